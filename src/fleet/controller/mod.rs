//! The fleet controller (`outpost fleet serve`, on the operators' host): enrols
//! satellites, takes their signed reports, judges their silence, and escalates what
//! needs a person to Slack and email.
//!
//! - [`settings`]: the `[controller]` config section.
//! - [`enrolment`]: one-time tokens and the satellites they create.
//! - [`satellites`]: who is enrolled, their status and sealed secrets.
//! - [`ingest`]: checking and storing one signed report.
//! - [`status`], [`rules`]: what silence means, and what needs a person.
//! - [`alerts`], [`escalation`]: open problems and who is told, how often.
//! - [`sweeper`]: the periodic pass tying those together, on a clock it is given.
//! - [`retention`]: hourly roll-ups and pruning.
//! - [`metrics`]: hourly load and the fleet's security trend, for [`pages`].
//! - [`http`], [`pages`]: the controller's own actix app and the operators' pages.

pub mod alerts;
pub mod enrolment;
pub mod escalation;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod pages;
pub mod retention;
pub mod rules;
pub mod satellites;
pub mod settings;
pub mod status;
pub mod sweeper;
