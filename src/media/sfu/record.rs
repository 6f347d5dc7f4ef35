//! Recording off the async workers: one writer thread owns every open recording file.
//!
//! Creating a file, writing Ogg pages and closing it are blocking disk IO, so
//! the forwarding tasks never do them: they hand each audio packet to the
//! writer thread through a bounded queue (`RECORDING_QUEUE`; when it is full
//! the packet is dropped from the recording, never from forwarding). The
//! writer creates a side's file on its first packet, once: a side whose file
//! cannot be created, or whose write fails mid-call (a full disk), stays
//! unrecorded for the rest of the call, with one log line and the error
//! reported with the recording (it is stored on the call and shown in the
//! history). Closing a call's recording is one more message on the same
//! queue, so every packet queued before it is written first; packets
//! arriving after it are dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use rtc::rtp::packet::Packet;
use tokio::sync::{mpsc, oneshot};

use crate::media::recording::{OggRecorder, track_path};
use crate::model::Side;

/// Packets (of all recorded calls) waiting for the writer thread. About 8 MB
/// at worst; at 50 packets/s per side it covers 80 s of one call's two sides,
/// or 0.8 s of disk stall with 100 recorded calls.
pub const RECORDING_QUEUE: usize = 8192;

enum Job {
    Write {
        rec: Arc<Recording>,
        side: Side,
        pkt: Packet,
        /// 48 kHz samples since the call's media started, by the clock.
        wall: u64,
    },
    Finish {
        rec: Arc<Recording>,
        /// Where the call ended (samples since its media started), if known: both files are filled up to it.
        end: Option<u64>,
        done: oneshot::Sender<Option<Finished>>,
    },
}

/// A closed recording: its total size, and the first error that cut a side short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub bytes: u64,
    pub error: Option<String>,
}

/// The writer thread's queue; the thread ends when every handle is gone.
#[derive(Clone)]
pub struct RecordingWriter {
    tx: mpsc::Sender<Job>,
}

impl RecordingWriter {
    /// Starts the writer thread.
    pub fn start() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(RECORDING_QUEUE);
        std::thread::Builder::new()
            .name("recordings".into())
            .spawn(move || run(rx))?;
        Ok(Self { tx })
    }

    /// A new recording of `call_id` into `dir`.
    pub fn recording(&self, call_id: Arc<str>, dir: PathBuf) -> Arc<Recording> {
        Arc::new(Recording {
            call_id,
            dir,
            writer: self.clone(),
            finished: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            origin_ms: AtomicI64::new(0),
        })
    }
}

/// One call's recording, shared by its forwarding tasks and the writer.
pub struct Recording {
    call_id: Arc<str>,
    dir: PathBuf,
    writer: RecordingWriter,
    /// Set by the writer when it closed the files: later packets are dropped.
    finished: AtomicBool,
    /// Packets lost to a full queue.
    dropped: AtomicU64,
    /// Unix ms the call's media started: position 0 of both files.
    origin_ms: AtomicI64,
}

impl Recording {
    /// The call's media started at `now_ms` (the first call counts).
    pub fn start(&self, now_ms: i64) {
        let _ = self
            .origin_ms
            .compare_exchange(0, now_ms, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Queues an audio packet of `side` that arrived at `at_ms` (header extensions already stripped).
    pub fn write(self: &Arc<Self>, side: Side, pkt: &Packet, at_ms: i64) {
        if self.finished.load(Ordering::Relaxed) {
            return;
        }
        let origin = match self.origin_ms.load(Ordering::Relaxed) {
            0 => at_ms,
            o => o,
        };
        let job = Job::Write {
            rec: self.clone(),
            side,
            pkt: pkt.clone(),
            wall: (at_ms - origin).max(0) as u64 * 48,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.writer.tx.try_send(job) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(call = %self.call_id, dropped = n, "recording queue full; packets left out");
            }
        }
    }

    /// Closes the files once everything queued before is written, each
    /// filled with silence to `end_ms` (the call's end, Unix ms); returns
    /// their total size and any error (None: nothing was recorded, or already finished).
    pub async fn finish(self: &Arc<Self>, end_ms: i64) -> Option<Finished> {
        let (done, result) = oneshot::channel();
        let end = match self.origin_ms.load(Ordering::Relaxed) {
            0 => None,
            origin => Some((end_ms - origin).max(0) as u64 * 48),
        };
        let job = Job::Finish {
            rec: self.clone(),
            end,
            done,
        };
        self.writer.tx.send(job).await.ok()?;
        result.await.ok().flatten()
    }
}

/// One side's file.
enum Slot {
    /// No packet yet: the file is created on the first.
    Pending,
    Recording(Box<OggRecorder>),
    /// The file could not be created, or a write failed; not tried again.
    /// What was written before a write failure is kept.
    Failed {
        error: String,
        kept: Option<Box<OggRecorder>>,
    },
}

/// The files of one call, owned by the writer thread.
struct CallFiles {
    sides: [Slot; 2],
}

impl CallFiles {
    fn new() -> Self {
        Self {
            sides: [Slot::Pending, Slot::Pending],
        }
    }

    fn write(&mut self, call_id: &str, dir: &Path, side: Side, pkt: Packet, wall: u64) {
        let slot = &mut self.sides[side.index()];
        if let Slot::Pending = slot {
            let path = track_path(dir, side);
            *slot = match OggRecorder::create(&path) {
                Ok(rec) => Slot::Recording(Box::new(rec)),
                Err(e) => {
                    tracing::warn!(call = call_id, side = side.as_str(), error = %e, path = %path.display(), "cannot start recording; this side stays unrecorded");
                    Slot::Failed {
                        error: format!("the {} recording could not be created: {e}", side.as_str()),
                        kept: None,
                    }
                }
            };
        }
        if let Slot::Recording(rec) = slot
            && let Err(e) = rec.write(pkt, wall)
        {
            tracing::warn!(call = call_id, side = side.as_str(), error = %e, "recording failed; the rest of this side is not recorded");
            let Slot::Recording(rec) = std::mem::replace(slot, Slot::Pending) else {
                return;
            };
            *slot = Slot::Failed {
                error: format!("the {} recording stopped: {e}", side.as_str()),
                kept: Some(rec),
            };
        }
    }

    /// Closes the files (each filled to `end` first, when given); their total
    /// size and the first error (None: no file and no error).
    fn finish(self, end: Option<u64>) -> Option<Finished> {
        let mut bytes = None;
        let mut error = None;
        for slot in self.sides {
            let rec = match slot {
                Slot::Pending => continue,
                Slot::Recording(rec) => rec,
                Slot::Failed { error: e, kept } => {
                    error.get_or_insert(e);
                    match kept {
                        Some(rec) => rec,
                        None => continue,
                    }
                }
            };
            let mut rec = rec;
            if let Some(end) = end
                && let Err(e) = rec.pad_to(end)
            {
                tracing::warn!(error = %e, "filling a recording to the call's end failed");
                error.get_or_insert(format!("the recording's end could not be written: {e}"));
            }
            match rec.finish() {
                Ok(n) => *bytes.get_or_insert(0) += n,
                Err(e) => {
                    tracing::warn!(error = %e, "closing a recording failed");
                    error.get_or_insert(format!("closing a recording failed: {e}"));
                }
            }
        }
        match (bytes, error) {
            (None, None) => None,
            (bytes, error) => Some(Finished {
                bytes: bytes.unwrap_or(0),
                error,
            }),
        }
    }
}

fn run(mut rx: mpsc::Receiver<Job>) {
    let mut calls: HashMap<Arc<str>, CallFiles> = HashMap::new();
    while let Some(job) = rx.blocking_recv() {
        match job {
            Job::Write { rec, side, pkt, wall } => {
                if rec.finished.load(Ordering::Relaxed) {
                    continue;
                }
                calls.entry(rec.call_id.clone()).or_insert_with(CallFiles::new).write(
                    &rec.call_id,
                    &rec.dir,
                    side,
                    pkt,
                    wall,
                );
            }
            Job::Finish { rec, end, done } => {
                rec.finished.store(true, Ordering::Relaxed);
                let total = calls.remove(&rec.call_id).and_then(|files| files.finish(end));
                let _ = done.send(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16) -> Packet {
        Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: 111,
                sequence_number: seq,
                timestamp: u32::from(seq) * 960,
                ssrc: 1,
                ..Default::default()
            },
            payload: bytes::Bytes::from_static(&[0xfc, 0xff, 0xfe]),
        }
    }

    #[test]
    fn a_file_that_cannot_be_created_is_tried_once() {
        let root = tempfile::tempdir().unwrap();
        // A file where the call's directory should be: creating it fails.
        let dir = root.path().join("call");
        std::fs::write(&dir, b"in the way").unwrap();
        let mut files = CallFiles::new();
        files.write("c", &dir, Side::Caller, pkt(1), 0);
        assert!(matches!(files.sides[0], Slot::Failed { kept: None, .. }));
        // Even once creating it would work, it is not tried again.
        std::fs::remove_file(&dir).unwrap();
        files.write("c", &dir, Side::Caller, pkt(2), 960);
        assert!(matches!(files.sides[0], Slot::Failed { .. }));
        assert!(!dir.exists(), "no second attempt");
        // The other side is unaffected.
        files.write("c", &dir, Side::Callee, pkt(1), 0);
        assert!(matches!(files.sides[1], Slot::Recording(_)));
        let done = files.finish(None).unwrap();
        assert!(done.bytes > 0);
        assert!(done.error.unwrap().contains("caller recording could not be created"));
        assert!(track_path(&dir, Side::Callee).exists());
        assert!(!track_path(&dir, Side::Caller).exists());
    }

    #[test]
    fn a_write_that_fails_mid_call_stops_that_side_once_and_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("call");
        std::fs::create_dir_all(&dir).unwrap();
        // The caller's file is a full disk.
        std::os::unix::fs::symlink("/dev/full", track_path(&dir, Side::Caller)).unwrap();
        let mut files = CallFiles::new();
        let mut failed_at = None;
        for seq in 1..2000u16 {
            files.write("c", &dir, Side::Caller, pkt(seq), u64::from(seq - 1) * 960);
            files.write("c", &dir, Side::Callee, pkt(seq), u64::from(seq - 1) * 960);
            if failed_at.is_none() && matches!(files.sides[0], Slot::Failed { .. }) {
                failed_at = Some(seq);
            }
        }
        assert!(failed_at.is_some(), "the full disk was noticed");
        let done = files.finish(None).unwrap();
        let error = done.error.expect("the failure is reported with the recording");
        assert!(error.contains("caller recording stopped"), "{error}");
        assert!(done.bytes > 0, "the callee's side is whole");
    }

    /// When the fixtures' calls started (Unix ms).
    const T0: i64 = 1_000_000;

    /// A writer thread and call `c1`'s recording under a fresh root, started at `T0`.
    fn started() -> (tempfile::TempDir, RecordingWriter, PathBuf, Arc<Recording>) {
        let root = tempfile::tempdir().unwrap();
        let writer = RecordingWriter::start().unwrap();
        let dir = root.path().join("c1");
        let rec = writer.recording("c1".into(), dir.clone());
        rec.start(T0);
        (root, writer, dir, rec)
    }

    #[tokio::test]
    async fn the_writer_thread_writes_everything_queued_before_finish_and_nothing_after() {
        let (root, writer, dir, rec) = started();
        let t0 = T0;
        for seq in 1..=50u16 {
            rec.write(Side::Caller, &pkt(seq), t0 + i64::from(seq - 1) * 20);
        }
        let done = rec.finish(t0 + 1_000).await.expect("recorded");
        assert_eq!(done.error, None);
        let path = track_path(&dir, Side::Caller);
        assert_eq!(done.bytes, std::fs::metadata(&path).unwrap().len());
        // 2 header pages + 50 audio pages + end-of-stream page.
        let text = std::fs::read(&path).unwrap();
        assert_eq!(text.windows(4).filter(|w| w == b"OggS").count(), 53);
        // After finishing, packets are dropped and no file is reopened.
        rec.write(Side::Caller, &pkt(51), t0 + 1_000);
        rec.write(Side::Callee, &pkt(1), t0 + 1_000);
        assert_eq!(rec.finish(t0 + 2_000).await, None);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), done.bytes);
        assert!(!track_path(&dir, Side::Callee).exists());
        // A call with no audio has no recording.
        let silent = writer.recording("c2".into(), root.path().join("c2"));
        assert_eq!(silent.finish(t0).await, None);
        assert!(!root.path().join("c2").exists());
    }

    #[tokio::test]
    async fn a_side_that_starts_late_begins_with_silence_from_the_calls_start() {
        let (_root, _writer, dir, rec) = started();
        let t0 = T0;
        rec.write(Side::Caller, &pkt(1), t0);
        // The callee's first packet comes 1 s into the call.
        rec.write(Side::Callee, &pkt(1), t0 + 1_000);
        // The call ends with the callee's packet.
        rec.finish(t0 + 1_020).await.unwrap();
        let pages = |side| {
            std::fs::read(track_path(&dir, side))
                .unwrap()
                .windows(4)
                .filter(|w| w == b"OggS")
                .count()
        };
        assert_eq!(pages(Side::Caller), 4 + 50, "filled to the call's end");
        assert_eq!(pages(Side::Callee), 4 + 50, "50 frames of silence first");
    }

    /// The last granule position of an Ogg file (bytes 6..14 of its last page).
    fn last_granule(bytes: &[u8]) -> u64 {
        let at = bytes.windows(4).rposition(|w| w == b"OggS").unwrap();
        u64::from_le_bytes(bytes[at + 6..at + 14].try_into().unwrap())
    }

    #[tokio::test]
    async fn both_files_end_where_the_call_ended_whenever_each_sides_last_packet_came() {
        let (_root, _writer, dir, rec) = started();
        let t0 = T0;
        // The caller talks for 2 s, the callee stops after 0.5 s.
        for seq in 1..=100u16 {
            rec.write(Side::Caller, &pkt(seq), t0 + i64::from(seq - 1) * 20);
        }
        for seq in 1..=25u16 {
            rec.write(Side::Callee, &pkt(seq), t0 + i64::from(seq - 1) * 20);
        }
        // The call ends 3 s in.
        rec.finish(t0 + 3_000).await.unwrap();
        let end = |side| last_granule(&std::fs::read(track_path(&dir, side)).unwrap());
        let (caller, callee) = (end(Side::Caller), end(Side::Callee));
        assert_eq!(caller, callee, "both sides end together");
        assert!(caller.abs_diff(3 * 48_000) <= 960, "at the call's end: {caller}");
    }
}
