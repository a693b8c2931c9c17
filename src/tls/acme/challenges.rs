//! HTTP-01 challenge answers (RFC 8555 §8.3), shared between the ACME order that
//! publishes them and the port-80 listener that serves them at
//! `/.well-known/acme-challenge/{token}`.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// Token -> key authorization, for the challenges of orders in progress. Cheap to
/// clone: every clone is the same map.
#[derive(Debug, Clone, Default)]
pub struct Challenges(Arc<RwLock<HashMap<String, String>>>);

impl Challenges {
    /// The key authorization to answer for `token`, while its order runs.
    pub fn answer(&self, token: &str) -> Option<String> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(token).cloned()
    }

    /// Serves `key_authorization` for `token` until the returned guard is dropped: an
    /// order that ends, however it ends, takes its answers down with it.
    pub fn publish(&self, token: String, key_authorization: String) -> Published {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(token.clone(), key_authorization);
        Published {
            challenges: self.clone(),
            token,
        }
    }
}

/// One published answer; removed when dropped.
#[derive(Debug)]
pub struct Published {
    challenges: Challenges,
    token: String,
}

impl Drop for Published {
    fn drop(&mut self) {
        let mut map = self
            .challenges
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.remove(&self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_lives_as_long_as_its_guard() {
        let challenges = Challenges::default();
        let shared = challenges.clone();
        let guard = challenges.publish("tok".into(), "tok.thumb".into());
        assert_eq!(shared.answer("tok").as_deref(), Some("tok.thumb"));
        assert_eq!(shared.answer("other"), None);
        drop(guard);
        assert_eq!(shared.answer("tok"), None);
    }
}
