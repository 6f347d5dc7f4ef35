//! Call recording: one participant's Opus RTP written as an Ogg/Opus file, in order, without decoding.
//!
//! The Ogg writer of the `rtc` crate assumes increasing RTP timestamps (it
//! subtracts them). Browsers start at a random timestamp, which may wrap
//! during a call; the network may reorder or duplicate packets; a participant
//! who reconnects starts a new stream (new SSRC, new numbers). The recorder
//! therefore maps every packet onto one continuous stream (`RtpRewriter`,
//! as forwarding does), keeps only packets newer than the last one written,
//! and hands the writer timestamps counted from the first packet. A file that
//! already exists (the call resumed after a restart) is continued as a
//! chained Ogg stream, never truncated.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Component, Path, PathBuf};

use rtc::media::io::Writer;
use rtc::media::io::ogg_writer::OggWriter;
use rtc::rtp::packet::Packet;

use super::sfu::rewrite::{RtpRewriter, seq_newer};
use crate::call::model::Side;

/// Timestamp the first recorded packet gets (the writer treats 1 specially).
const FIRST_TS: u32 = 1_000;
/// Longest recording: the RTP clock (48 kHz) must not wrap from the first packet (~24.8 h).
pub const MAX_RECORDING_TS: u32 = u32::MAX - 48_000;

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
    first_ts: Option<u32>,
    last: Option<(u16, u32)>,
    /// One continuous stream whatever sources the participant went through.
    continuity: RtpRewriter,
    /// Packets written.
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
            first_ts: None,
            last: None,
            continuity: RtpRewriter::new(0, 960),
            packets: 0,
        })
    }

    /// Writes `pkt` if it is newer than the last one written; others are dropped.
    pub fn write(&mut self, mut pkt: Packet) {
        if pkt.payload.is_empty() {
            return;
        }
        let h = &pkt.header;
        let o = self.continuity.rewrite(h.ssrc, h.sequence_number, h.timestamp);
        let first = *self.first_ts.get_or_insert(o.ts);
        let elapsed = o.ts.wrapping_sub(first);
        if elapsed > MAX_RECORDING_TS {
            return; // before the first packet (reordered), or past the longest recording
        }
        let ts = FIRST_TS + elapsed;
        if let Some((seq, last_ts)) = self.last
            && (!seq_newer(o.seq, seq) || ts < last_ts)
        {
            return;
        }
        pkt.header.timestamp = ts;
        if self.writer.write_rtp(&pkt).is_ok() {
            self.last = Some((o.seq, ts));
            self.packets += 1;
        }
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

    #[test]
    fn writes_a_valid_ogg_across_a_timestamp_wrap_and_reordering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/caller.ogg");
        let mut r = OggRecorder::create(&path).unwrap();
        let start = u32::MAX - 960 * 5; // wraps after five packets
        for i in 0..20u16 {
            r.write(pkt(60_000u16.wrapping_add(i), start.wrapping_add(u32::from(i) * 960)));
            if i == 10 {
                // A late and a duplicate packet are dropped without harm.
                r.write(pkt(60_000 + 3, start.wrapping_add(3 * 960)));
                r.write(pkt(60_000 + 10, start.wrapping_add(10 * 960)));
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
    fn a_reconnected_participant_continues_the_same_recording() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("callee.ogg");
        let mut r = OggRecorder::create(&path).unwrap();
        for i in 0..10u16 {
            r.write(pkt(500 + i, 10_000 + u32::from(i) * 960));
        }
        // New source: new SSRC, a lower sequence and an unrelated timestamp.
        for i in 0..10u16 {
            let mut p = pkt(7 + i, 90 + u32::from(i) * 960);
            p.header.ssrc = 2;
            r.write(p);
        }
        assert_eq!(r.packets, 20, "nothing of the new stream is lost");
        r.finish().unwrap();
        let (_, granule) = pages(&std::fs::read(&path).unwrap());
        assert_eq!(granule, 1 + 19 * 960, "one continuous timeline");
    }

    #[test]
    fn an_existing_recording_is_continued_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caller.ogg");
        let mut r = OggRecorder::create(&path).unwrap();
        r.write(pkt(1, 960));
        let first = r.finish().unwrap();
        let mut r = OggRecorder::create(&path).unwrap();
        r.write(pkt(1, 960));
        let both = r.finish().unwrap();
        assert!(both > first, "{both} > {first}");
        let (pages_n, _) = pages(&std::fs::read(&path).unwrap());
        assert_eq!(pages_n, 8, "two chained streams of 2 header + 1 audio + 1 end pages");
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
        r.write(pkt(100, 50_000));
        r.write(pkt(99, 49_040));
        r.write(pkt(101, 50_960));
        assert_eq!(r.packets, 2);
        assert!(r.finish().unwrap() > 0);
    }
}
