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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields resume after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
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
    #[test]
    fn reads_its_own_process() {
        let pid = std::process::id();
        let rss = super::rss_bytes(pid).unwrap();
        assert!(rss > 1024 * 1024, "{rss}");
        let cpu = super::cpu_seconds(pid).unwrap();
        assert!(cpu >= 0.0);
        assert_eq!(super::rss_bytes(u32::MAX), None);
    }
}
