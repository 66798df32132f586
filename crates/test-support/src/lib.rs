//! Local stand-ins for the remote services sesame talks to.
//!
//! Each stand-in is a real HTTP server on loopback with real state, so tests
//! exercise sesame's HTTP code exactly as it runs against the real service.

pub mod cloudflare;
pub mod connect;
pub mod s3;
pub mod signals;
