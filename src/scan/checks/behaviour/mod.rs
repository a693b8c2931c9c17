//! Behavioural anomalies: what people, keys and the API do, measured against what they
//! usually do. Sign-ins, API error bursts, keys used from new networks, and access
//! that grew between scans.

mod api_errors;
mod api_key_addresses;
mod capability_creep;
mod sign_ins;

pub use api_errors::ApiErrors;
pub use api_key_addresses::ApiKeyAddresses;
pub use capability_creep::CapabilityCreep;
pub use sign_ins::SignIns;
