//! Running child processes visibly: every command is echoed before it runs, its output is
//! streamed to the user, and a failure names the step it belongs to.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The result of a step: the error is a message for the user naming what failed.
pub type Result<T> = std::result::Result<T, String>;

/// Prints a progress line, `==> message`, and flushes it so that it appears before the
/// output of the next child process.
pub fn announce(message: &str) {
    let mut out = io::stdout().lock();
    // A closed stdout must not abort the run; the child processes still report by exit code.
    let _ = writeln!(out, "==> {message}");
    let _ = out.flush();
}

/// Where commands run and which `PATH` they see.
pub struct Shell {
    /// The workspace root: the working directory of every command.
    root: PathBuf,
    /// `PATH` with cargo's bin directory added, so tools that `cargo install` just put
    /// there are found even when the caller's `PATH` lacks it.
    path: Option<OsString>,
}

impl Shell {
    /// A shell whose commands run in `root`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            path: path_with_cargo_bin(),
        }
    }

    /// The workspace root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts building a command for `program`.
    pub fn cmd(&self, program: &str) -> Cmd {
        Cmd {
            program: program.to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            env_removes: Vec::new(),
            cwd: self.root.clone(),
            path: self.path.clone(),
        }
    }

    /// Whether `program` can be started (it is on `PATH`) and `program --version` succeeds.
    /// Returns its trimmed standard output.
    pub fn version_of(&self, program: &str) -> Option<String> {
        self.cmd(program).arg("--version").capture()
    }
}

/// A command with the environment variables it is shown and run with.
pub struct Cmd {
    program: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    env_removes: Vec<String>,
    cwd: PathBuf,
    path: Option<OsString>,
}

impl Cmd {
    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable; it is shown in the echoed command line.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Removes an inherited environment variable (not shown).
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env_removes.push(key.into());
        self
    }

    /// The command as a user would type it in a POSIX shell, environment first.
    pub fn display(&self) -> String {
        let envs = self.envs.iter().map(|(k, v)| format!("{k}={}", quote(v)));
        let words = std::iter::once(quote(&self.program)).chain(self.args.iter().map(|a| quote(a)));
        envs.chain(words).collect::<Vec<_>>().join(" ")
    }

    /// The `std` command, ready to spawn.
    fn build(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(&self.cwd);
        if let Some(path) = &self.path {
            command.env("PATH", path);
        }
        for key in &self.env_removes {
            command.env_remove(key);
        }
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        command
    }

    /// Echoes the command as `==> <step>: <command>`, runs it with inherited stdio and
    /// fails, naming `step`, unless it exits successfully.
    pub fn run(&self, step: &str) -> Result<()> {
        announce(&format!("{step}: {}", self.display()));
        let status = self
            .build()
            .status()
            .map_err(|e| self.spawn_error(step, &e))?;
        self.check(step, status)
    }

    /// Like [`Cmd::run`], but passes every line of the child's standard output to
    /// `on_line` while still streaming it to the user (standard error is inherited).
    pub fn run_tee(&self, step: &str, mut on_line: impl FnMut(&str)) -> Result<()> {
        announce(&format!("{step}: {}", self.display()));
        let mut child = self
            .build()
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(step, &e))?;
        let read_result = match child.stdout.take() {
            Some(stdout) => tee_lines(stdout, &mut on_line),
            None => Ok(()),
        };
        let status = child
            .wait()
            .map_err(|e| format!("step `{step}`: waiting for `{}`: {e}", self.display()))?;
        read_result
            .map_err(|e| format!("step `{step}`: reading output of `{}`: {e}", self.display()))?;
        self.check(step, status)
    }

    /// Runs the command quietly and returns its trimmed standard output if it started and
    /// exited successfully; `None` otherwise (not installed, or failing).
    pub fn capture(&self) -> Option<String> {
        let output = self.build().stderr(Stdio::null()).output().ok()?;
        if !output.status.success() {
            return None;
        }
        Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Turns a non-success exit status into an error naming the step.
    fn check(&self, step: &str, status: ExitStatus) -> Result<()> {
        if status.success() {
            return Ok(());
        }
        let how = match status.code() {
            Some(code) => format!("exited with code {code}"),
            None => format!("was terminated ({status})"),
        };
        Err(format!("step `{step}` failed: `{}` {how}", self.display()))
    }

    /// The error for a command that could not be started.
    fn spawn_error(&self, step: &str, error: &io::Error) -> String {
        let hint = if error.kind() == io::ErrorKind::NotFound {
            format!(" (is `{}` installed and on PATH?)", self.program)
        } else {
            String::new()
        };
        format!(
            "step `{step}` failed: could not start `{}`: {error}{hint}",
            self.display()
        )
    }
}

/// Copies `input` line by line to our standard output, calling `on_line` on each line.
fn tee_lines(input: impl io::Read, on_line: &mut impl FnMut(&str)) -> io::Result<()> {
    let mut reader = BufReader::new(input);
    let mut buffer = Vec::new();
    let mut out = io::stdout();
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            return Ok(());
        }
        // Echo failures (a closed stdout) are ignored: the child must still be drained.
        let _ = out.write_all(&buffer);
        let _ = out.flush();
        on_line(String::from_utf8_lossy(&buffer).trim_end());
    }
}

/// Quotes a word for display in a POSIX shell, only when needed.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `PATH` with `$CARGO_HOME/bin` (default `~/.cargo/bin`) appended when it is missing,
/// or `None` to inherit `PATH` unchanged.
fn path_with_cargo_bin() -> Option<OsString> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cargo"),
    };
    let bin = cargo_home.join("bin");
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&current).collect();
    if dirs.iter().any(|d| d == &bin) {
        return None;
    }
    dirs.push(bin);
    std::env::join_paths(dirs).ok()
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("--target"), "--target");
        assert_eq!(quote("/usr/bin/chromedriver"), "/usr/bin/chromedriver");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
