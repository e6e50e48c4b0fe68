//! Reading a process's CPU time from /proc: the work a server (or a Redis) did during a
//! measurement, whatever else shares the machine.

use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`): 100 on every Linux the bench
/// runs on (the kernel reports in these units whatever its own tick rate).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time `pid` has used so far, all its threads together.
pub fn of(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
    parse(&stat).map_err(|e| format!("/proc/{pid}/stat: {e}"))
}

/// utime + stime of a `/proc/<pid>/stat` line.
fn parse(stat: &str) -> Result<Duration, String> {
    // The command name (field 2) may hold spaces and parentheses; the fields after its
    // last `)` are plain.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("no `)`")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("no field {}", i + 3))
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_millis(total * 1000 / TICKS_PER_SECOND))
}

/// The CPU time of every process in `pids`, together.
pub fn of_all(pids: &[u32]) -> Result<Duration, String> {
    pids.iter().map(|&pid| of(pid)).sum()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn adds_user_and_system_time() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 2207 0 0 0 \
                    250 37 0 0 20 0 9 0 123 456 789";
        assert_eq!(super::parse(stat), Ok(Duration::from_millis(2870)));
    }

    #[test]
    fn reads_this_process() {
        assert!(super::of(std::process::id()).is_ok());
    }
}
