//! When a failed delivery is tried again: the first retries within seconds, then minutes, then hours; after the last, the message is `failed`.

use std::time::Duration;

/// Waits after each failed attempt: attempt 1 is sent at once; after it fails, the
/// next comes 5 s later, then 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h
/// (10 attempts over about 16 hours).
pub const RETRY_SCHEDULE: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(4 * 3600),
    Duration::from_secs(8 * 3600),
];

/// After `attempts` failed attempts: the wait before the next, or `None` when there is none left.
pub fn next_wait(schedule: &[Duration], attempts: u32) -> Option<Duration> {
    let i = usize::try_from(attempts).ok()?.checked_sub(1)?;
    schedule.get(i).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_within_seconds_and_end_after_the_schedule() {
        assert_eq!(next_wait(&RETRY_SCHEDULE, 0), None, "nothing failed yet");
        assert_eq!(next_wait(&RETRY_SCHEDULE, 1), Some(Duration::from_secs(5)));
        assert_eq!(next_wait(&RETRY_SCHEDULE, 2), Some(Duration::from_secs(30)));
        assert_eq!(next_wait(&RETRY_SCHEDULE, 9), Some(Duration::from_secs(8 * 3600)));
        assert_eq!(next_wait(&RETRY_SCHEDULE, 10), None, "10 attempts, then failed");
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!(total > Duration::from_secs(15 * 3600) && total < Duration::from_secs(17 * 3600));
        assert!(RETRY_SCHEDULE.windows(2).all(|w| w[0] < w[1]));
    }
}
