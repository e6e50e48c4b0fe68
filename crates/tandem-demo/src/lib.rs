//! The types the demo in `www/` sends, defined once here.
//!
//! The Rust side uses them directly (`tandem serve --demo` answers [`DemoRequest`] with
//! [`DemoReply`]); the web app imports the TypeScript declarations ts-rs generates from
//! them into `www/src/generated/` (`cargo test -p tandem-demo`, which `cargo xtask demo`
//! and `cargo xtask test` run). No TypeScript file repeats these shapes by hand.

mod messages;

pub use messages::{DemoMessage, DemoReply, DemoRequest, Profile, answer};
