//! Connections: one entry ([`entry`]), the per-core table ([`table`], with its indexes of
//! signature buckets ([`sig_index`]), the burst's queue of new reply keys ([`reply_defer`]), the
//! local-port search's filter of held keys (`held_ports`), timer wheel and young FIFO), IPVS's
//! TCP and SCTP state machines ([`state`], [`sctp_state`]) and when a master sends a connection
//! to its backups ([`sync_policy`]).
pub mod entry;
mod held_ports;
pub mod local_addrs;
pub mod reply_defer;
pub mod sctp_state;
pub mod seq_adjust;
pub mod sig_index;
pub mod state;
pub mod sync_policy;
pub mod table;
mod wheel;
mod young;

pub use entry::Conn;
pub use local_addrs::{LocalAddrUse, LocalAddrUses, MAX_LOCAL_ADDRS};
pub use sctp_state::next_sctp_state;
pub use state::{next_tcp_state, ConnState, Direction};
pub use sync_policy::{BadSyncThreshold, SyncCandidate, SyncPolicy};
pub use table::{ConnTable, TableFull};
