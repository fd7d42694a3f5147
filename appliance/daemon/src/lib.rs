//! rvsd: the rvs appliance daemon as a library, so that tools and lab tests can drive the same
//! port layer and worker loop the daemon runs.
#![deny(unsafe_code)]

pub mod cli_docs;
pub mod config;
pub mod conn_list;
pub mod control;
pub mod dataplane;
pub mod hugepage_alloc;
pub mod limits;
pub mod port;
pub mod stats;
pub mod supervision;
pub mod sync_daemon;
pub mod tap_addresses;
pub mod vip_announce;
pub mod vip_watch;
pub mod worker;
