//! Packet I/O. [`dpdk`] is the production port layer (and the only module of this crate allowed
//! to use `unsafe`).
pub mod dpdk;
