//! The configuration in force: the file's, with the dashboard's settings over it.
//! Replaced as a whole when a setting changes; each reader takes the one current at
//! that moment and keeps it for the request or run at hand.

use std::sync::{Arc, PoisonError, RwLock};

use crate::config::Config;

/// A shared handle on the configuration in force.
#[derive(Clone)]
pub struct LiveConfig(Arc<RwLock<Arc<Config>>>);

impl LiveConfig {
    pub fn new(config: Config) -> Self {
        Self::from(Arc::new(config))
    }

    /// The configuration now.
    pub fn get(&self) -> Arc<Config> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn set(&self, config: Arc<Config>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = config;
    }
}

impl From<Arc<Config>> for LiveConfig {
    fn from(config: Arc<Config>) -> Self {
        Self(Arc::new(RwLock::new(config)))
    }
}

impl std::fmt::Debug for LiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LiveConfig").field(&self.get()).finish()
    }
}
