//! Call recording: one participant's Opus RTP written as an Ogg/Opus file, in order, without decoding.
//!
//! Both sides' files keep the call's timeline (`Timeline`): position 0 is the
//! moment the call's media started (the answer), and a packet is placed
//! where its RTP timestamp says, unless the stream fell behind the clock (the
//! participant reconnected: a new source restarts its numbers, and the time
//! it was away is missing from them). Missing stretches, at the start, in a
//! reconnect gap or a lost packet, are filled with Opus silence frames, so
//! the two files of a call play in step and any player reads them whole.
//!
//! The Ogg writer of the `rtc` crate assumes increasing RTP timestamps (it
//! subtracts them). Browsers start at a random timestamp, which may wrap
//! during a call; the network may reorder or duplicate packets. The recorder
//! therefore maps every packet onto one continuous stream (`RtpRewriter`, as
//! forwarding does), keeps only packets newer than the last one written, and
//! hands the writer timestamps counted from the timeline's start. A file that
//! already exists (the call resumed after a restart) is continued as a
//! chained Ogg stream, never truncated.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Component, Path, PathBuf};

use rtc::media::io::Writer;
use rtc::media::io::ogg_writer::OggWriter;
use rtc::rtp::packet::Packet;

use super::sfu::rewrite::{RtpRewriter, seq_newer};
use crate::model::Side;

/// Timestamp of the timeline's start (the writer treats 1 specially).
const FIRST_TS: u32 = 1_000;
/// Longest recording: the RTP clock (48 kHz) must not wrap from the first packet (~24.8 h).
pub const MAX_RECORDING_TS: u32 = u32::MAX - 48_000;
/// 48 kHz samples in one 20 ms Opus frame.
pub const FRAME_SAMPLES: u64 = 960;
/// The stream is this far behind the call's clock (200 ms) before it is moved up to it.
pub const GAP_SAMPLES: u64 = 48 * 200;
/// Most silence filled in at once (10 minutes); beyond it the timeline jumps.
pub const MAX_FILL_FRAMES: u64 = 30_000;
/// 20 ms of Opus silence: TOC 0xF8 (CELT, fullband, 20 ms, one frame), then the silence frame.
pub const SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];

/// Where a packet goes on the call's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Timeline position (48 kHz samples) of the packet.
    pub pos: u64,
    /// Silence frames to write first, the first of them at `silence_from`.
    pub silence_from: u64,
    pub silence_frames: u64,
}

/// One participant's packets mapped onto the call's timeline. Pure: the
/// caller hands in where the call's clock is (`wall`, samples since the start).
pub struct Timeline {
    continuity: RtpRewriter,
    first_ts: Option<u32>,
    /// Timeline position of the continuous stream's first timestamp.
    offset: u64,
    last: Option<(u16, u64)>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            continuity: RtpRewriter::new(0, FRAME_SAMPLES as u32),
            first_ts: None,
            offset: 0,
            last: None,
        }
    }
}

fn snap(from: u64, to: u64) -> u64 {
    from + (to.saturating_sub(from) / FRAME_SAMPLES) * FRAME_SAMPLES
}

impl Timeline {
    /// Places a packet (`None`: a duplicate, reordered or out-of-range one, dropped).
    pub fn place(&mut self, ssrc: u32, seq: u16, ts: u32, wall: u64) -> Option<Placed> {
        let o = self.continuity.rewrite(ssrc, seq, ts);
        let Some(first) = self.first_ts else {
            self.first_ts = Some(o.ts);
            let pos = snap(0, wall);
            self.offset = pos;
            self.last = Some((o.seq, pos));
            return Some(Placed {
                pos,
                silence_from: 0,
                silence_frames: (pos / FRAME_SAMPLES).min(MAX_FILL_FRAMES),
            });
        };
        let rel = o.ts.wrapping_sub(first);
        if rel > MAX_RECORDING_TS {
            return None; // before the first packet (reordered), or past the longest recording
        }
        let (last_seq, last_pos) = self.last?;
        let rtp_pos = self.offset + u64::from(rel);
        if !seq_newer(o.seq, last_seq) || rtp_pos <= last_pos {
            return None;
        }
        let next = last_pos + FRAME_SAMPLES;
        let mut pos = rtp_pos;
        if wall > rtp_pos + GAP_SAMPLES {
            // The stream fell behind the clock: it resumes where the clock is.
            pos = snap(next, wall);
            self.offset += pos - rtp_pos;
        }
        if pos > u64::from(MAX_RECORDING_TS) {
            return None;
        }
        self.last = Some((o.seq, pos));
        Some(Placed {
            pos,
            silence_from: next,
            silence_frames: (pos.saturating_sub(next) / FRAME_SAMPLES).min(MAX_FILL_FRAMES),
        })
    }

    /// The silence that carries this side from its last packet to the call's
    /// end at `end` (samples since the start): `(first position, frames)`.
    /// Nothing before the first packet, or when the side already reaches the end.
    pub fn tail(&self, end: u64) -> Option<(u64, u64)> {
        let (_, last_pos) = self.last?;
        let next = last_pos + FRAME_SAMPLES;
        let frames = (end.saturating_sub(next) / FRAME_SAMPLES).min(MAX_FILL_FRAMES);
        (frames > 0).then_some((next, frames))
    }
}

/// Whether recordings can be written under `root`: creates it if missing, writes and removes a probe file.
pub fn check_writable(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    let probe = root.join(format!(".switchboard-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(&probe)
}

/// A call's recording directory: `rel` (the call id, as stored with the call)
/// under `root`. `None` if `rel` could leave `root` (absolute, `..`, empty):
/// the stored value comes from the database.
pub fn call_dir(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    let inside = rel.components().next().is_some() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    inside.then(|| root.join(rel))
}

/// One side's file in its call's directory: `caller.ogg` or `callee.ogg`.
pub fn track_path(call_dir: &Path, side: Side) -> PathBuf {
    call_dir.join(format!("{}.ogg", side.as_str()))
}

/// Writes one participant's audio.
pub struct OggRecorder {
    writer: OggWriter<BufWriter<File>>,
    path: PathBuf,
    timeline: Timeline,
    /// The last packet's header: silence written after it copies it.
    last_header: Option<rtc::rtp::header::Header>,
    /// Packets written (silence included).
    pub packets: u64,
}

impl OggRecorder {
    /// Creates `path` (and its directory).
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = BufWriter::new(OpenOptions::new().create(true).append(true).open(path)?);
        let writer = OggWriter::new(file, 48_000, 2).map_err(std::io::Error::other)?;
        Ok(Self {
            writer,
            path: path.to_owned(),
            timeline: Timeline::default(),
            last_header: None,
            packets: 0,
        })
    }

    /// Writes `pkt` at its place on the call's timeline (`wall`: samples since
    /// the call's media started), after any silence that place needs.
    /// Duplicates and late packets are dropped; an error is the file's.
    pub fn write(&mut self, mut pkt: Packet, wall: u64) -> std::io::Result<()> {
        if pkt.payload.is_empty() {
            return Ok(());
        }
        let h = &pkt.header;
        let Some(placed) = self.timeline.place(h.ssrc, h.sequence_number, h.timestamp, wall) else {
            return Ok(());
        };
        self.silence(&pkt.header, placed.silence_from, placed.silence_frames)?;
        pkt.header.timestamp = FIRST_TS + placed.pos as u32;
        self.writer.write_rtp(&pkt).map_err(std::io::Error::other)?;
        self.packets += 1;
        self.last_header = Some(pkt.header);
        Ok(())
    }

    /// `frames` silence frames from position `from`, each a copy of `header`.
    fn silence(&mut self, header: &rtc::rtp::header::Header, from: u64, frames: u64) -> std::io::Result<()> {
        for i in 0..frames {
            let mut silence = Packet {
                header: header.clone(),
                payload: bytes::Bytes::from_static(&SILENCE),
            };
            silence.header.timestamp = FIRST_TS + (from + i * FRAME_SAMPLES) as u32;
            self.writer.write_rtp(&silence).map_err(std::io::Error::other)?;
            self.packets += 1;
        }
        Ok(())
    }

    /// Fills silence up to the call's end at `end` (samples since the start),
    /// so both sides' files end where the call did, whenever each side's last packet came.
    pub fn pad_to(&mut self, end: u64) -> std::io::Result<()> {
        let (Some(header), Some((from, frames))) = (self.last_header.clone(), self.timeline.tail(end)) else {
            return Ok(());
        };
        self.silence(&header, from, frames)
    }

    /// Finishes the file; returns its size in bytes.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.writer.close().map_err(std::io::Error::other)?;
        drop(self.writer);
        Ok(std::fs::metadata(&self.path)?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16, ts: u32) -> Packet {
        Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: 111,
                sequence_number: seq,
                timestamp: ts,
                ssrc: 1,
                ..Default::default()
            },
            // A one-frame Opus packet (TOC byte + data).
            payload: bytes::Bytes::from_static(&[0xfc, 0xff, 0xfe, 0x01, 0x02]),
        }
    }

    /// (page count, last granule position) of an Ogg file.
    fn pages(bytes: &[u8]) -> (usize, u64) {
        let mut i = 0;
        let (mut n, mut granule) = (0, 0);
        while i + 27 <= bytes.len() && &bytes[i..i + 4] == b"OggS" {
            granule = u64::from_le_bytes(bytes[i + 6..i + 14].try_into().unwrap());
            let segments = bytes[i + 26] as usize;
            let body: usize = bytes[i + 27..i + 27 + segments].iter().map(|&b| b as usize).sum();
            i += 27 + segments + body;
            n += 1;
        }
        (n, granule)
    }

    /// Samples of wall time for packet `i` sent every 20 ms from the start.
    fn at(i: u64) -> u64 {
        i * FRAME_SAMPLES
    }

    #[test]
    fn writes_a_valid_ogg_across_a_timestamp_wrap_and_reordering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/caller.ogg");
        let mut r = OggRecorder::create(&path).unwrap();
        let start = u32::MAX - 960 * 5; // wraps after five packets
        for i in 0..20u16 {
            r.write(
                pkt(60_000u16.wrapping_add(i), start.wrapping_add(u32::from(i) * 960)),
                at(i.into()),
            )
            .unwrap();
            if i == 10 {
                // A late and a duplicate packet are dropped without harm.
                r.write(pkt(60_000 + 3, start.wrapping_add(3 * 960)), at(10)).unwrap();
                r.write(pkt(60_000 + 10, start.wrapping_add(10 * 960)), at(10)).unwrap();
            }
        }
        assert_eq!(r.packets, 20);
        let size = r.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(size, bytes.len() as u64);
        let (n, granule) = pages(&bytes);
        // 2 header pages + 20 audio pages + end-of-stream page.
        assert_eq!(n, 23, "pages");
        // 48 kHz samples from the first packet (the writer starts counting at 1).
        assert_eq!(granule, 1 + 19 * 960);
        assert!(bytes.windows(8).any(|w| w == b"OpusHead"));
    }

    #[test]
    fn a_quick_reconnect_continues_the_same_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("callee.ogg");
        let mut r = OggRecorder::create(&path).unwrap();
        for i in 0..10u16 {
            r.write(pkt(500 + i, 10_000 + u32::from(i) * 960), at(i.into()))
                .unwrap();
        }
        // New source: new SSRC, a lower sequence and an unrelated timestamp, right on time.
        for i in 0..10u16 {
            let mut p = pkt(7 + i, 90 + u32::from(i) * 960);
            p.header.ssrc = 2;
            r.write(p, at(10 + u64::from(i))).unwrap();
        }
        assert_eq!(r.packets, 20, "nothing of the new stream is lost, no silence needed");
        r.finish().unwrap();
        let (_, granule) = pages(&std::fs::read(&path).unwrap());
        assert_eq!(granule, 1 + 19 * 960, "one continuous timeline");
    }

    #[test]
    fn a_reconnect_gap_is_filled_with_silence_so_both_sides_stay_in_step() {
        let dir = tempfile::tempdir().unwrap();
        // The caller talks the whole minute; the callee drops out from 10 s to 13 s.
        let mut caller = OggRecorder::create(&dir.path().join("caller.ogg")).unwrap();
        let mut callee = OggRecorder::create(&dir.path().join("callee.ogg")).unwrap();
        for i in 0..3000u64 {
            caller.write(pkt(i as u16, (i * 960) as u32), at(i)).unwrap();
        }
        for i in 0..500u64 {
            callee.write(pkt(i as u16, 5_000 + (i * 960) as u32), at(i)).unwrap();
        }
        for i in 650..3000u64 {
            // Back on a new source whose numbers know nothing of the gap.
            let mut p = pkt((i - 650) as u16, 777 + ((i - 650) * 960) as u32);
            p.header.ssrc = 9;
            callee.write(p, at(i)).unwrap();
        }
        assert_eq!(callee.packets, 3000, "150 silence frames fill the 3 s gap");
        let caller_end = pages(&std::fs::read(dir.path().join("caller.ogg")).unwrap()).1;
        caller.finish().unwrap();
        callee.finish().unwrap();
        let a = pages(&std::fs::read(dir.path().join("caller.ogg")).unwrap()).1;
        let b = pages(&std::fs::read(dir.path().join("callee.ogg")).unwrap()).1;
        assert!(caller_end <= a);
        assert_eq!(a, b, "both files end at the same point of the call");
        assert_eq!(a, 1 + 2999 * 960);
        let bytes = std::fs::read(dir.path().join("callee.ogg")).unwrap();
        assert!(bytes.windows(3).any(|w| w == SILENCE), "silence frames are in the file");
    }

    #[test]
    fn a_late_joiner_starts_with_silence_from_the_calls_start() {
        let mut t = Timeline::default();
        // The first packet arrives 1.5 s after the call's media started.
        let p = t.place(1, 100, 12_345, 48 * 1_500).unwrap();
        assert_eq!(
            p,
            Placed {
                pos: 72_000,
                silence_from: 0,
                silence_frames: 75
            }
        );
        // The next one follows its RTP timestamp; no silence.
        assert_eq!(
            t.place(1, 101, 12_345 + 960, 48 * 1_521).unwrap(),
            Placed {
                pos: 72_960,
                silence_from: 72_960,
                silence_frames: 0
            }
        );
        // One lost packet: one silence frame in its place.
        assert_eq!(
            t.place(1, 103, 12_345 + 3 * 960, 48 * 1_560).unwrap(),
            Placed {
                pos: 74_880,
                silence_from: 73_920,
                silence_frames: 1
            }
        );
        // Duplicates and late ones are dropped.
        assert_eq!(t.place(1, 102, 12_345 + 2 * 960, 48 * 1_561), None);
        assert_eq!(t.place(1, 103, 12_345 + 3 * 960, 48 * 1_561), None);
        // Jitter (the clock a little ahead of the stream) moves nothing.
        assert_eq!(t.place(1, 104, 12_345 + 4 * 960, 48 * 1_700).unwrap().pos, 75_840);
    }

    #[test]
    fn a_full_disk_is_an_error_not_silence() {
        // /dev/full takes the open and fails every write that reaches it.
        let mut r = OggRecorder::create(Path::new("/dev/full")).unwrap();
        let failed = (0..10_000u64).find_map(|i| r.write(pkt(i as u16, (i * 960) as u32), at(i)).err());
        let e = failed.expect("a write error once the buffer reaches the disk");
        assert!(e.to_string().contains("No space left"), "ENOSPC: {e}");
    }

    #[test]
    fn an_existing_recording_is_continued_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caller.ogg");
        let mut r = OggRecorder::create(&path).unwrap();
        r.write(pkt(1, 960), 0).unwrap();
        let first = r.finish().unwrap();
        let mut r = OggRecorder::create(&path).unwrap();
        r.write(pkt(1, 960), 0).unwrap();
        let both = r.finish().unwrap();
        assert!(both > first, "{both} > {first}");
        let (pages_n, _) = pages(&std::fs::read(&path).unwrap());
        assert_eq!(pages_n, 8, "two chained streams of 2 header + 1 audio + 1 end pages");
    }

    #[test]
    fn a_directory_that_cannot_be_written_is_found_at_start() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            check_writable(&dir.path().join("new/sub")).is_ok(),
            "created when missing"
        );
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(check_writable(&file).is_err(), "a file is no directory");
        assert!(check_writable(&file.join("below")).is_err());
        assert!(check_writable(Path::new("/proc/switchboard-recordings")).is_err());
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/rec");
        assert_eq!(call_dir(root, "0190-abc"), Some(PathBuf::from("/rec/0190-abc")));
        assert_eq!(call_dir(root, "a/b"), Some(PathBuf::from("/rec/a/b")));
        for bad in ["", "/etc", "../x", "a/../../x", "./a", "."] {
            assert_eq!(call_dir(root, bad), None, "{bad:?}");
        }
        let dir = call_dir(root, "id").unwrap();
        assert_eq!(track_path(&dir, Side::Caller), PathBuf::from("/rec/id/caller.ogg"));
        assert_eq!(track_path(&dir, Side::Callee), PathBuf::from("/rec/id/callee.ogg"));
    }

    #[test]
    fn a_packet_from_before_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = OggRecorder::create(&dir.path().join("a.ogg")).unwrap();
        r.write(pkt(100, 50_000), 0).unwrap();
        r.write(pkt(99, 49_040), 0).unwrap();
        r.write(pkt(101, 50_960), 960).unwrap();
        assert_eq!(r.packets, 2);
        assert!(r.finish().unwrap() > 0);
    }
}
