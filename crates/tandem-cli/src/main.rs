//! The `tandem` binary. `tandem serve` runs a tandem server node; `tandem token` mints a
//! JSON Web Token for it.

mod admin;
mod duration;
mod hooks;
mod logs;
mod rooms;
mod serve;
mod tokens;

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
    #[command(after_long_help = tokens::HELP)]
    Serve(Box<serve::ServeArgs>),
    /// Prints a JSON Web Token for `tandem serve`: HS256 with --secret (as
    /// --token-secret), or RS256/ES256/EdDSA with --private-key (as --token-public-key).
    Token(Box<tokens::TokenArgs>),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Token(args) => tokens::token(&args),
    }
}
