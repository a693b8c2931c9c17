//! A raw TLS ClientHello for the offers no modern TLS library will make: TLS 1.0
//! and 1.1, and TLS 1.2 with only CBC or only RSA-key-exchange suites. A server must
//! refuse them; sending the bytes and reading whether a ServerHello or an alert
//! comes back is enough to tell, with no handshake to finish.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What a probe offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Tls10,
    Tls11,
    /// TLS 1.2, CBC suites only (with and without ECDHE).
    Tls12Cbc,
    /// TLS 1.2, RSA key exchange only (no forward secrecy), GCM and CBC.
    Tls12RsaKeyExchange,
    /// TLS 1.2 with ECDHE and AEAD: what a server should accept, so a probe that sees
    /// every weak offer refused can show it would have seen an acceptance.
    Tls12EcdheAead,
}

impl Offer {
    /// The offers a well-configured server refuses.
    pub const WEAK: [Offer; 4] = [
        Offer::Tls10,
        Offer::Tls11,
        Offer::Tls12Cbc,
        Offer::Tls12RsaKeyExchange,
    ];

    /// Stable and short, for finding subjects.
    pub fn id(self) -> &'static str {
        match self {
            Offer::Tls10 => "tls1.0",
            Offer::Tls11 => "tls1.1",
            Offer::Tls12Cbc => "tls1.2-cbc",
            Offer::Tls12RsaKeyExchange => "tls1.2-rsa-kex",
            Offer::Tls12EcdheAead => "tls1.2-ecdhe-aead",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Offer::Tls10 => "TLS 1.0",
            Offer::Tls11 => "TLS 1.1",
            Offer::Tls12Cbc => "TLS 1.2 with CBC suites only",
            Offer::Tls12RsaKeyExchange => "TLS 1.2 with RSA key exchange only",
            Offer::Tls12EcdheAead => "TLS 1.2 with ECDHE and AEAD suites",
        }
    }

    fn version(self) -> u16 {
        match self {
            Offer::Tls10 => 0x0301,
            Offer::Tls11 => 0x0302,
            _ => 0x0303,
        }
    }

    fn suites(self) -> &'static [u16] {
        match self {
            // What clients of that era offered: ECDHE and RSA with CBC, and 3DES.
            Offer::Tls10 | Offer::Tls11 => {
                &[0xc013, 0xc014, 0xc009, 0xc00a, 0x002f, 0x0035, 0x000a]
            }
            Offer::Tls12Cbc => &[
                0xc027, 0xc028, 0xc023, 0xc024, 0xc013, 0xc014, 0xc009, 0xc00a, 0x003c, 0x003d,
                0x002f, 0x0035,
            ],
            Offer::Tls12RsaKeyExchange => &[0x009c, 0x009d, 0x003c, 0x003d, 0x002f, 0x0035],
            Offer::Tls12EcdheAead => &[0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8],
        }
    }
}

/// How the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A ServerHello: the server chose this version and suite from the offer.
    Accepted { version: u16, suite: u16 },
    /// A fatal alert (named), or the connection closed.
    Refused(String),
}

/// Connects to `addr`, sends `offer` naming `host`, and reads the first record back.
pub fn probe(addr: SocketAddr, host: &str, offer: Offer, timeout: Duration) -> io::Result<Answer> {
    let mut tcp = super::client::connect(addr, timeout)?;
    tcp.write_all(&client_hello(offer, host))?;
    read_answer(&mut tcp)
}

/// The ClientHello record of `offer`, with SNI for `host` unless it is an address.
pub fn client_hello(offer: Offer, host: &str) -> Vec<u8> {
    let mut random = [0u8; 32];
    // A fixed random would do for a probe that never completes; a real one looks
    // like any client to the server.
    let _ = getrandom::fill(&mut random);
    let mut body = Vec::new();
    body.extend(offer.version().to_be_bytes());
    body.extend(random);
    body.push(0); // no session id
    with_u16_length(&mut body, |b| {
        offer
            .suites()
            .iter()
            .for_each(|s| b.extend(s.to_be_bytes()))
    });
    body.extend([1, 0]); // the null compression method only
    with_u16_length(&mut body, |extensions| {
        let host = host.trim_matches(['[', ']']);
        if host.parse::<IpAddr>().is_err() {
            extension(extensions, 0x0000, |sni| {
                with_u16_length(sni, |list| {
                    list.push(0); // host_name
                    with_u16_length(list, |name| name.extend(host.as_bytes()));
                })
            });
        }
        // supported_groups: X25519, P-256, P-384, so ECDHE suites can be chosen.
        extension(extensions, 0x000a, |groups| {
            with_u16_length(groups, |g| g.extend([0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]))
        });
        // ec_point_formats: uncompressed.
        extension(extensions, 0x000b, |formats| formats.extend([1, 0]));
        // signature_algorithms: ECDSA, RSA-PSS and RSA PKCS#1 with SHA-256/384.
        extension(extensions, 0x000d, |algorithms| {
            with_u16_length(algorithms, |a| {
                [0x0403u16, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501]
                    .iter()
                    .for_each(|s| a.extend(s.to_be_bytes()))
            })
        });
        // renegotiation_info, empty: servers expect it on a first handshake.
        extension(extensions, 0xff01, |info| info.push(0));
    });

    let mut handshake = vec![1]; // client_hello
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    // The record layer says TLS 1.0 whatever the offer, as clients do for their
    // first flight.
    let mut record = vec![HANDSHAKE, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

fn with_u16_length(buf: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    buf.extend((inner.len() as u16).to_be_bytes());
    buf.extend(inner);
}

fn extension(buf: &mut Vec<u8>, kind: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    buf.extend(kind.to_be_bytes());
    with_u16_length(buf, fill);
}

/// Reads the server's first record: a ServerHello, an alert, or nothing at all.
pub fn read_answer(reader: &mut impl Read) -> io::Result<Answer> {
    let closed = || Answer::Refused("the connection was closed".into());
    let mut header = [0u8; 5];
    if !read_all(reader, &mut header)? {
        return Ok(closed());
    }
    let content_type = header[0];
    if content_type != ALERT && content_type != HANDSHAKE {
        // Most likely not TLS at all (a plain HTTP server answering `HTTP/1.1 400`).
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a TLS answer (record type {content_type})"),
        ));
    }
    let mut record = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    if !read_all(reader, &mut record)? {
        return Ok(closed());
    }
    if content_type == ALERT {
        return Ok(Answer::Refused(alert_name(record.get(1).copied())));
    }
    server_hello(&record).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the first handshake message is not a ServerHello",
        )
    })
}

/// TLS record content types.
const ALERT: u8 = 0x15;
const HANDSHAKE: u8 = 0x16;

/// Fills `buf`; false if the peer closed or reset the connection first.
fn read_all(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// server_version and cipher_suite of a ServerHello handshake message.
fn server_hello(message: &[u8]) -> Option<Answer> {
    if *message.first()? != 2 {
        return None;
    }
    let u16_at = |at: usize| {
        Some(u16::from_be_bytes([
            *message.get(at)?,
            *message.get(at + 1)?,
        ]))
    };
    // type (1), length (3), version (2), random (32), then the session id.
    let session_id_len = usize::from(*message.get(38)?);
    Some(Answer::Accepted {
        version: u16_at(4)?,
        suite: u16_at(39 + session_id_len)?,
    })
}

fn alert_name(code: Option<u8>) -> String {
    match code {
        Some(40) => "alert handshake_failure".into(),
        Some(47) => "alert illegal_parameter".into(),
        Some(50) => "alert decode_error".into(),
        Some(70) => "alert protocol_version".into(),
        Some(71) => "alert insufficient_security".into(),
        Some(80) => "alert internal_error".into(),
        Some(code) => format!("alert {code}"),
        None => "an empty alert".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hello_is_framed_as_a_tls_record() {
        let hello = client_hello(Offer::Tls12Cbc, "outpost.example");
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(
            usize::from(u16::from_be_bytes([hello[3], hello[4]])),
            hello.len() - 5
        );
        assert_eq!(hello[5], 1, "client_hello");
        let length = u32::from_be_bytes([0, hello[6], hello[7], hello[8]]) as usize;
        assert_eq!(length, hello.len() - 9);
        assert_eq!(&hello[9..11], &[0x03, 0x03], "offers TLS 1.2");
        // version (2) + random (32) + empty session id (1), then the suites.
        let suites_at = 9 + 35;
        let suites_len = usize::from(u16::from_be_bytes([hello[suites_at], hello[suites_at + 1]]));
        let suites: Vec<u16> = hello[suites_at + 2..suites_at + 2 + suites_len]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(suites, Offer::Tls12Cbc.suites());
        assert!(
            hello
                .windows(b"outpost.example".len())
                .any(|w| w == b"outpost.example"),
            "names the host"
        );
    }

    #[test]
    fn old_versions_are_offered_as_such_and_addresses_get_no_sni() {
        let hello = client_hello(Offer::Tls10, "127.0.0.1");
        assert_eq!(&hello[9..11], &[0x03, 0x01]);
        assert!(!hello.windows(9).any(|w| w == b"127.0.0.1"));
        assert_eq!(&client_hello(Offer::Tls11, "[::1]")[9..11], &[0x03, 0x02]);
    }

    #[test]
    fn reads_alerts_server_hellos_and_hang_ups() {
        let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 70];
        assert_eq!(
            read_answer(&mut &alert[..]).unwrap(),
            Answer::Refused("alert protocol_version".into())
        );
        let mut hello = vec![0x16, 0x03, 0x03, 0x00, 0x00];
        let mut message = vec![2, 0, 0, 0, 0x03, 0x01];
        message.extend([7u8; 32]);
        message.extend([4, 1, 2, 3, 4]); // a session id of 4 bytes
        message.extend([0x00, 0x2f, 0]);
        hello[4] = message.len() as u8;
        hello.extend(message);
        assert_eq!(
            read_answer(&mut &hello[..]).unwrap(),
            Answer::Accepted {
                version: 0x0301,
                suite: 0x002f
            }
        );
        assert_eq!(
            read_answer(&mut &[][..]).unwrap(),
            Answer::Refused("the connection was closed".into())
        );
        assert!(read_answer(&mut &b"HTTP/1.1 400 Bad Request\r\n"[..]).is_err());
    }
}
