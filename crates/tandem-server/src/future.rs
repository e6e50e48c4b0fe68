//! The boxed future that the broker's methods and the application's hooks return. A
//! module of its own so that both can name it without depending on each other.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future, as the hooks return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
