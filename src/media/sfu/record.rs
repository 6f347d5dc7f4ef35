//! Recording off the async workers: one writer thread owns every open recording file.
//!
//! Creating a file, writing Ogg pages and closing it are blocking disk IO, so
//! the forwarding tasks never do them: they hand each audio packet to the
//! writer thread through a bounded queue (`RECORDING_QUEUE`; when it is full
//! the packet is dropped from the recording, never from forwarding). The
//! writer creates a side's file on its first packet, once: a side whose file
//! cannot be created stays unrecorded for the rest of the call (no retry per
//! packet). Closing a call's recording is one more message on the same queue,
//! so every packet queued before it is written first; packets arriving after
//! it are dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rtc::rtp::packet::Packet;
use tokio::sync::{mpsc, oneshot};

use crate::call::model::Side;
use crate::media::recording::{OggRecorder, track_path};

/// Packets (of all recorded calls) waiting for the writer thread. About 8 MB
/// at worst; at 50 packets/s per side it covers 80 s of one call's two sides,
/// or 0.8 s of disk stall with 100 recorded calls.
pub const RECORDING_QUEUE: usize = 8192;

enum Job {
    Write {
        rec: Arc<Recording>,
        side: Side,
        pkt: Packet,
    },
    Finish {
        rec: Arc<Recording>,
        done: oneshot::Sender<Option<u64>>,
    },
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
}

impl Recording {
    /// Queues an audio packet of `side` (header extensions already stripped).
    pub fn write(self: &Arc<Self>, side: Side, pkt: &Packet) {
        if self.finished.load(Ordering::Relaxed) {
            return;
        }
        let job = Job::Write {
            rec: self.clone(),
            side,
            pkt: pkt.clone(),
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.writer.tx.try_send(job) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(call = %self.call_id, dropped = n, "recording queue full; packets left out");
            }
        }
    }

    /// Closes the files once everything queued before is written; returns
    /// their total size (None: nothing was recorded, or already finished).
    pub async fn finish(self: &Arc<Self>) -> Option<u64> {
        let (done, result) = oneshot::channel();
        let job = Job::Finish {
            rec: self.clone(),
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
    /// The file could not be created; not tried again.
    Failed,
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

    fn write(&mut self, dir: &Path, side: Side, pkt: Packet) {
        let slot = &mut self.sides[side.index()];
        if let Slot::Pending = slot {
            let path = track_path(dir, side);
            *slot = match OggRecorder::create(&path) {
                Ok(rec) => Slot::Recording(Box::new(rec)),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "cannot start recording");
                    Slot::Failed
                }
            };
        }
        if let Slot::Recording(rec) = slot {
            rec.write(pkt);
        }
    }

    /// Closes the files; their total size (None: no file).
    fn finish(self) -> Option<u64> {
        let mut total = None;
        for slot in self.sides {
            if let Slot::Recording(rec) = slot {
                match rec.finish() {
                    Ok(n) => *total.get_or_insert(0) += n,
                    Err(e) => tracing::warn!(error = %e, "closing a recording failed"),
                }
            }
        }
        total
    }
}

fn run(mut rx: mpsc::Receiver<Job>) {
    let mut calls: HashMap<Arc<str>, CallFiles> = HashMap::new();
    while let Some(job) = rx.blocking_recv() {
        match job {
            Job::Write { rec, side, pkt } => {
                if rec.finished.load(Ordering::Relaxed) {
                    continue;
                }
                calls
                    .entry(rec.call_id.clone())
                    .or_insert_with(CallFiles::new)
                    .write(&rec.dir, side, pkt);
            }
            Job::Finish { rec, done } => {
                rec.finished.store(true, Ordering::Relaxed);
                let total = calls.remove(&rec.call_id).and_then(CallFiles::finish);
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
        files.write(&dir, Side::Caller, pkt(1));
        assert!(matches!(files.sides[0], Slot::Failed));
        // Even once creating it would work, it is not tried again.
        std::fs::remove_file(&dir).unwrap();
        files.write(&dir, Side::Caller, pkt(2));
        assert!(matches!(files.sides[0], Slot::Failed));
        assert!(!dir.exists(), "no second attempt");
        // The other side is unaffected.
        files.write(&dir, Side::Callee, pkt(1));
        assert!(matches!(files.sides[1], Slot::Recording(_)));
        assert!(files.finish().unwrap() > 0);
        assert!(track_path(&dir, Side::Callee).exists());
        assert!(!track_path(&dir, Side::Caller).exists());
    }

    #[tokio::test]
    async fn the_writer_thread_writes_everything_queued_before_finish_and_nothing_after() {
        let root = tempfile::tempdir().unwrap();
        let writer = RecordingWriter::start().unwrap();
        let dir = root.path().join("c1");
        let rec = writer.recording("c1".into(), dir.clone());
        for seq in 1..=50 {
            rec.write(Side::Caller, &pkt(seq));
        }
        let bytes = rec.finish().await.expect("recorded");
        let path = track_path(&dir, Side::Caller);
        assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());
        // 2 header pages + 50 audio pages + end-of-stream page.
        let text = std::fs::read(&path).unwrap();
        assert_eq!(text.windows(4).filter(|w| w == b"OggS").count(), 53);
        // After finishing, packets are dropped and no file is reopened.
        rec.write(Side::Caller, &pkt(51));
        rec.write(Side::Callee, &pkt(1));
        assert_eq!(rec.finish().await, None);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes);
        assert!(!track_path(&dir, Side::Callee).exists());
        // A call with no audio has no recording.
        let silent = writer.recording("c2".into(), root.path().join("c2"));
        assert_eq!(silent.finish().await, None);
        assert!(!root.path().join("c2").exists());
    }
}
