//! A tiny authoritative DNS server on loopback UDP: answers from a zone the test
//! writes, NXDOMAIN for names it does not hold, or SERVFAIL for everything (a broken
//! resolver). Built on the resolver's own wire format (hickory-proto).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, CAA, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record};

/// Records by lowercase name (no trailing dot).
#[derive(Debug, Default, Clone)]
pub struct Zone {
    records: HashMap<String, Vec<RData>>,
    failing: bool,
}

impl Zone {
    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.add(name, RData::TXT(TXT::new(vec![text.to_owned()])));
        self
    }

    pub fn a(mut self, name: &str, addr: std::net::Ipv4Addr) -> Self {
        self.add(name, RData::A(A(addr)));
        self
    }

    /// `0 issue "<issuer>"`.
    pub fn caa(mut self, name: &str, issuer: &str) -> Self {
        let issuer = Name::from_ascii(issuer).expect("issuer name");
        self.add(
            name,
            RData::CAA(CAA::new_issue(false, Some(issuer), Vec::new())),
        );
        self
    }

    /// A server that answers SERVFAIL to every query.
    pub fn failing() -> Self {
        Self {
            failing: true,
            ..Self::default()
        }
    }

    fn add(&mut self, name: &str, data: RData) {
        self.records
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(data);
    }

    fn answer(&self, request: &Message) -> Message {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.add_queries(request.queries.clone());
        if let Some(edns) = &request.edns {
            response.set_edns(edns.clone());
        }
        if self.failing {
            response.metadata.response_code = ResponseCode::ServFail;
            return response;
        }
        for query in &request.queries {
            let key = query
                .name()
                .to_ascii()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let Some(records) = self.records.get(&key) else {
                response.metadata.response_code = ResponseCode::NXDomain;
                continue;
            };
            for data in records {
                if data.record_type() == query.query_type() {
                    response.add_answer(Record::from_rdata(query.name().clone(), 60, data.clone()));
                }
            }
        }
        response
    }
}

/// Serves a [`Zone`] until dropped.
#[derive(Debug)]
pub struct DnsServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zone: Zone) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback UDP");
        // Wakes the loop up to notice it should stop; not a deadline of the test.
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopping.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(request) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                if request.metadata.message_type != MessageType::Query {
                    continue;
                }
                let bytes = zone.answer(&request).to_vec().expect("encode response");
                let _ = socket.send_to(&bytes, from);
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
