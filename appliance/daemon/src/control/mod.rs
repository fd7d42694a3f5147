//! The control plane: the configuration as it is now (after live changes), the operations
//! ipvsadm's verbs map to, the JSON-lines protocol, and the Unix control socket.
//!
//! Changes are applied to a copy of the state; only a copy that validates as a dataplane
//! snapshot replaces the current one, so a refused request changes nothing. A new state reaches
//! the workers as one immutable snapshot, built once per change (weights included), which they
//! pick up at their next burst boundary.

pub mod access_lists;
pub mod health;
pub mod ids;
pub mod live_config;
mod live_verbs;
pub mod local_addrs;
pub mod mark_rules;
pub mod metrics;
pub mod proto;
pub mod rates;
pub mod real_lifecycle;
pub mod reload;
mod request_opts;
pub mod server;
pub mod snat_rules;
pub mod status_page;
pub mod sync_roles;

/// True for a real server that may be of another address family than its VIP: NAT64, an
/// IPv4 FULLNAT real server of an IPv6 VIP (the snapshot checks the rest).
pub fn nat64_real(vip: std::net::IpAddr, real: std::net::IpAddr, forward: rvs_core::service::Forward) -> bool {
    vip.is_ipv6() && real.is_ipv4() && forward == rvs_core::service::Forward::FullNat
}
