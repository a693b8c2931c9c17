//! The fleet: each satellite (an Outpost server) reports its health to the operators'
//! fleet controller, which watches for silence and escalates. `protocol` is what the
//! two exchange; `controller` is the operators' side; `enrolment`, `health`, `queue`
//! and `reporter` are the satellite's.

pub mod controller;
pub mod enrolment;
pub mod health;
pub mod protocol;
pub mod queue;
pub mod reporter;
pub mod settings;
