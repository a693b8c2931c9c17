//! Asking one DNS server (the configured one, or the system's) for the records the
//! check reads. A record that does not exist is an empty answer; a server that does
//! not answer, or answers with an error, is a [`CheckError`]: the scan cannot say
//! what the zone holds.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::scan::CheckError;

/// Per query: a scan must not hang on an unreachable server.
const TIMEOUT: Duration = Duration::from_secs(3);

pub struct Dns {
    runtime: tokio::runtime::Runtime,
    resolver: TokioResolver,
    /// For messages: which server was asked.
    server: String,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns").field("server", &self.server).finish()
    }
}

impl Dns {
    /// A resolver asking `server`, or those of /etc/resolv.conf.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, CheckError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CheckError(format!("cannot start a DNS client: {e}")))?;
        let _entered = runtime.enter();
        let (mut builder, described) = match server {
            Some(address) => {
                let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                    .into_iter()
                    .map(|mut connection| {
                        connection.port = address.port();
                        connection
                    })
                    .collect();
                let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                    address.ip(),
                    true,
                    connections,
                )]);
                let builder =
                    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
                (builder, address.to_string())
            }
            None => (
                TokioResolver::builder_tokio().map_err(|e| {
                    CheckError(format!("the system's DNS servers cannot be read: {e}"))
                })?,
                "the system's DNS servers".to_owned(),
            ),
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = TIMEOUT;
        options.attempts = 1;
        let resolver = builder
            .build()
            .map_err(|e| CheckError(format!("cannot start a DNS client: {e}")))?;
        Ok(Self {
            runtime,
            resolver,
            server: described,
        })
    }

    /// The TXT records at `name`, each one string (a record's strings joined, as SPF
    /// and DMARC read them).
    pub fn txt(&self, name: &str) -> Result<Vec<String>, CheckError> {
        self.records(name, RecordType::TXT, |data| match data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect(),
            ),
            _ => None,
        })
    }

    /// The CAA records at `name`, as zone files write them (`0 issue "ca.example"`).
    pub fn caa(&self, name: &str) -> Result<Vec<String>, CheckError> {
        self.records(name, RecordType::CAA, |data| match data {
            RData::CAA(caa) => Some(caa.to_string()),
            _ => None,
        })
    }

    fn records(
        &self,
        name: &str,
        kind: RecordType,
        read: impl Fn(&RData) -> Option<String>,
    ) -> Result<Vec<String>, CheckError> {
        // Fully qualified: the system's search domains must not be tried.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.runtime.block_on(self.resolver.lookup(fqdn, kind)) {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| read(&record.data))
                .collect()),
            // No such name, or no record of the kind: an answer, not a failure.
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(CheckError(format!(
                "{} did not answer the {kind} query for {name}: {e}",
                self.server
            ))),
        }
    }
}
