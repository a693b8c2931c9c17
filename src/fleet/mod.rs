//! The fleet: each satellite (an Outpost server) reports its health to the operators'
//! fleet controller, which watches for silence and escalates. `protocol` is what the
//! two exchange; `controller` is the operators' side.

pub mod controller;
pub mod protocol;
