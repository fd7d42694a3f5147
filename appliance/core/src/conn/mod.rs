//! Connections: the per-core table ([`table`]) and IPVS's TCP state machine ([`state`]).
pub mod state;
pub mod table;

pub use state::{next_tcp_state, ConnState, Direction};
pub use table::{Conn, ConnTable, TableFull};
