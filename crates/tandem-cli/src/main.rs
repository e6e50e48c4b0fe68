//! The `tandem` binary. `tandem serve` runs a tandem server node; `tandem token` issues a
//! token for `--token-secret`.

mod duration;
mod logs;
mod rooms;
mod serve;

use clap::{Parser, Subcommand};

/// tandem: a typed real-time messaging server.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a server node until SIGINT or SIGTERM, then closes every connection with 1012
    /// (or --shutdown-code) so clients reconnect once it is back.
    Serve(Box<serve::ServeArgs>),
    /// Prints a token for `tandem serve --token-secret` (HMAC-SHA256, see the docs of
    /// tandem_server::HmacTokens).
    Token(serve::TokenArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Token(args) => serve::token(&args),
    }
}
