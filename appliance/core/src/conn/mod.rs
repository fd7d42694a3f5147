//! Connections: the per-core table ([`table`]), IPVS's TCP state machine ([`state`]) and when a
//! master sends a connection to its backups ([`sync_policy`]).
pub mod state;
pub mod sync_policy;
pub mod table;

pub use state::{next_tcp_state, ConnState, Direction};
pub use sync_policy::{BadSyncThreshold, SyncCandidate, SyncPolicy};
pub use table::{Conn, ConnTable, TableFull};
