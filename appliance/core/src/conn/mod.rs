//! Connections: one entry ([`entry`]), the per-core table ([`table`], with its timer wheel and
//! young FIFO), IPVS's TCP state machine ([`state`]) and when a master sends a connection to its
//! backups ([`sync_policy`]).
pub mod entry;
pub mod state;
pub mod sync_policy;
pub mod table;
mod wheel;
mod young;

pub use entry::Conn;
pub use state::{next_tcp_state, ConnState, Direction};
pub use sync_policy::{BadSyncThreshold, SyncCandidate, SyncPolicy};
pub use table::{ConnTable, TableFull};
