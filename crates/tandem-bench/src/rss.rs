//! Reading a process's memory from /proc.

/// The resident set size (`VmRSS`) and its peak (`VmHWM`) of `pid`, in KiB.
pub fn of(pid: u32) -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Waits until `pid`'s RSS stops changing (two readings 200 ms apart within 1%, at most
/// 5 s), so freshly opened connections have finished allocating; returns it in KiB.
pub async fn settled(pid: u32) -> Result<u64, String> {
    let mut last = of(pid)?.0;
    for _ in 0..25 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let now = of(pid)?.0;
        if now.abs_diff(last) * 100 <= last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}
