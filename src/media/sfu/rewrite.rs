//! RTP header rewriting for a forwarded stream: fixed outgoing SSRC, continuous sequence and timestamp.
//!
//! Pure: no IO, no clock. A subscriber sees one stream per forwarded track.
//! While the publisher's stream is stable, sequence numbers and timestamps
//! pass through unchanged (only the SSRC and payload type change). When the
//! publisher's source restarts (a new SSRC, e.g. after its renegotiation), the
//! outgoing sequence continues from the last one sent and the timestamp moves
//! on by one frame, so the subscriber's jitter buffer sees one continuous
//! stream instead of a jump it would have to recover from.

/// Outgoing header fields for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Out {
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
}

#[derive(Clone, Copy, Debug)]
struct Source {
    ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
}

/// Maps one incoming stream (whatever its SSRC over time) onto one outgoing stream.
#[derive(Clone, Debug)]
pub struct RtpRewriter {
    out_ssrc: u32,
    /// Timestamp step assumed between the last packet of one source and the
    /// first of the next (one frame: 960 for 20 ms Opus, 3000 for 30 fps video).
    frame_ts: u32,
    source: Option<Source>,
    /// Highest sequence number sent (by RFC 3550 wrap-around order) and its timestamp.
    last: Option<(u16, u32)>,
}

/// True if `a` comes after `b` in 16-bit wrap-around order.
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl RtpRewriter {
    pub fn new(out_ssrc: u32, frame_ts: u32) -> Self {
        Self {
            out_ssrc,
            frame_ts,
            source: None,
            last: None,
        }
    }

    pub fn out_ssrc(&self) -> u32 {
        self.out_ssrc
    }

    /// The outgoing header fields for an incoming `(ssrc, seq, ts)`.
    pub fn rewrite(&mut self, ssrc: u32, seq: u16, ts: u32) -> Out {
        let src = match self.source {
            Some(s) if s.ssrc == ssrc => s,
            _ => {
                let s = match self.last {
                    // First source ever: pass sequence and timestamp through.
                    None => Source {
                        ssrc,
                        seq_offset: 0,
                        ts_offset: 0,
                    },
                    // A new source: continue right after what was sent.
                    Some((last_seq, last_ts)) => Source {
                        ssrc,
                        seq_offset: last_seq.wrapping_add(1).wrapping_sub(seq),
                        ts_offset: last_ts.wrapping_add(self.frame_ts).wrapping_sub(ts),
                    },
                };
                self.source = Some(s);
                s
            }
        };
        let out = Out {
            ssrc: self.out_ssrc,
            seq: seq.wrapping_add(src.seq_offset),
            ts: ts.wrapping_add(src.ts_offset),
        };
        match self.last {
            Some((last_seq, _)) if !seq_newer(out.seq, last_seq) => {}
            _ => self.last = Some((out.seq, out.ts)),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stable_stream_passes_through_with_the_new_ssrc() {
        let mut r = RtpRewriter::new(0xAAAA, 960);
        for i in 0..100u16 {
            let seq = 65_500u16.wrapping_add(i);
            let ts = 4_294_900_000u32.wrapping_add(u32::from(i) * 960);
            assert_eq!(r.rewrite(7, seq, ts), Out { ssrc: 0xAAAA, seq, ts });
        }
    }

    #[test]
    fn reordered_and_duplicate_packets_keep_their_numbers() {
        let mut r = RtpRewriter::new(1, 960);
        assert_eq!(r.rewrite(7, 10, 100).seq, 10);
        assert_eq!(r.rewrite(7, 12, 2020).seq, 12);
        assert_eq!(r.rewrite(7, 11, 1060).seq, 11, "late packet keeps its place");
        assert_eq!(r.rewrite(7, 12, 2020).seq, 12, "duplicate stays a duplicate");
        assert_eq!(r.rewrite(7, 13, 2980).seq, 13);
    }

    #[test]
    fn a_source_switch_continues_the_sequence_and_timestamp() {
        let mut r = RtpRewriter::new(1, 960);
        r.rewrite(7, 500, 48_000);
        r.rewrite(7, 501, 48_960);
        // The publisher restarts: new SSRC, unrelated numbers.
        let o = r.rewrite(8, 30_000, 9_000_000);
        assert_eq!(
            o,
            Out {
                ssrc: 1,
                seq: 502,
                ts: 49_920
            }
        );
        let o = r.rewrite(8, 30_001, 9_000_960);
        assert_eq!((o.seq, o.ts), (503, 50_880));
        // Wrap-around on both counters after a switch.
        let mut r = RtpRewriter::new(1, 3000);
        r.rewrite(7, 65_535, u32::MAX - 100);
        let o = r.rewrite(9, 4, 77);
        assert_eq!((o.seq, o.ts), (0, (u32::MAX - 100).wrapping_add(3000)));
        assert_eq!(r.rewrite(9, 5, 3077).seq, 1);
    }

    #[test]
    fn switching_back_to_an_old_source_still_continues() {
        let mut r = RtpRewriter::new(1, 960);
        r.rewrite(7, 100, 1000);
        r.rewrite(8, 5, 5);
        let o = r.rewrite(7, 101, 1960);
        assert_eq!(o.seq, 102, "sequence keeps increasing: {o:?}");
    }

    #[test]
    fn wraparound_order() {
        assert!(seq_newer(1, 65_535));
        assert!(seq_newer(100, 99));
        assert!(!seq_newer(99, 100));
        assert!(!seq_newer(5, 5));
        assert!(!seq_newer(65_535, 1));
    }
}
