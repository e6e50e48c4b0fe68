//! tandem for JavaScript and TypeScript: the browser client behind an idiomatic promise and
//! event API, built by wasm-pack into the npm package in `pkg/`. This crate is the wasm
//! half ([`Core`], one session behind callbacks); the classes a page uses are JavaScript,
//! in `js/api.js`, and their declarations in `js/index.d.ts`.
//!
//! ```ts
//! import { Client } from "tandem-sdk";
//! type Chat = { text: string };
//! const client = await Client.connect<Chat>("/ws", { getToken: fetchToken });
//! const room = await client.join("lobby");
//! room.on("message", (m) => console.log(m.from, m.data.text));
//! await room.publish({ text: "hi" });
//! ```
//!
//! Only the wasm32 build has content; natively the crate is empty.

#![cfg(target_arch = "wasm32")]

mod bindings;
mod error;
mod options;
mod types;

/// The allocator of the package's wasm heap. Talc's code is a third of the size of Rust's
/// default (dlmalloc), the largest single piece of a small wasm module.
// SAFETY: a module built for `wasm32-unknown-unknown` without the `atomics` feature runs on
// one thread, the condition `TalckWasm` (which takes no lock) asks for.
#[allow(unsafe_code)]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

pub use bindings::Core;
pub use types::{
    AppOptions, BackoffOptions, ConnectSettings, HeartbeatOptions, JoinSettings, QueueOptions,
    State,
};
