//! Reading a process's resident memory and CPU time from /proc (Linux).

/// Resident set size in bytes (`VmRSS` of /proc/<pid>/status).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User + system CPU seconds consumed so far (/proc/<pid>/stat fields 14 and 15).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_seconds_of(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// User + system CPU seconds in the text of a /proc/<pid>/stat.
fn cpu_seconds_of(stat: &str) -> Option<f64> {
    // The command name (field 2) may contain spaces and parentheses; fields resume after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux this runs on.
    100.0
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn reads_its_own_process() {
        let pid = std::process::id();
        let rss = super::rss_bytes(pid).unwrap();
        assert!(rss > 1024 * 1024, "{rss}");
        assert_eq!(super::rss_bytes(u32::MAX), None);
        assert_eq!(super::cpu_seconds(u32::MAX), None);
    }

    #[test]
    fn cpu_time_grows_while_this_thread_spins() {
        let pid = std::process::id();
        let before = super::cpu_seconds(pid).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut spins = 0u64;
        let mut now = before;
        while now - before < 0.2 && Instant::now() < deadline {
            for _ in 0..100_000 {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
            now = super::cpu_seconds(pid).unwrap();
        }
        assert!(now - before >= 0.2, "0.2 s of spinning never showed: {before} → {now}");
    }

    #[test]
    fn parses_stat_lines_with_odd_command_names() {
        // Fields 14 and 15 (utime, stime) are 250 and 50 ticks: 3 s at 100 Hz.
        let tail = "S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        for comm in ["(loadtest)", "(a b) c)", "()"] {
            assert_eq!(
                super::cpu_seconds_of(&format!("4242 {comm} {tail}")),
                Some(3.0),
                "{comm}"
            );
        }
        assert_eq!(super::cpu_seconds_of("4242 (truncated) S 1 2"), None);
        assert_eq!(super::cpu_seconds_of("no parenthesis"), None);
    }
}
