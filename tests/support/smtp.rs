//! A real SMTP server on 127.0.0.1 that keeps what it receives (RFC 5321, plus AUTH
//! PLAIN/LOGIN from RFC 4954 when started with credentials).
//!
//! It never advertises STARTTLS, so only `security = "none"` clients can use it. Bodies
//! are stored as sent: lettre picks 7bit, quoted-printable or base64 for each message
//! (which keeps messages ASCII for relays without 8BITMIME), so [`ReceivedMail::body`]
//! and [`ReceivedMail::subject`] decode them for tests to search plain text.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Longest line accepted (RFC 5321 4.5.3.1.6 allows 1000 with CRLF; some slack).
const MAX_LINE: usize = 4096;
/// A connection idle this long is dropped, so no thread outlives a test by much.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Reverse-path of MAIL FROM, without angle brackets (empty for `<>`).
    pub from: String,
    /// Forward-paths of every accepted RCPT TO, in order.
    pub to: Vec<String>,
    /// The message as received: CRLF line endings, dot-stuffing undone, ending with the
    /// CRLF of its last line.
    pub data: String,
}

pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    auth: Option<(String, String)>,
    mail: Mutex<Vec<ReceivedMail>>,
    arrived: Condvar,
    /// Command verbs in arrival order (arguments left out: they may hold credentials).
    commands: Mutex<Vec<String>>,
    stopping: AtomicBool,
    /// Clones of open connections, shut down when the sink is dropped.
    open: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

impl SmtpSink {
    /// A sink that takes mail from anyone.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// A sink that advertises AUTH PLAIN LOGIN, answers 535 to anything but these
    /// credentials, and 530 to MAIL before a successful AUTH.
    pub fn with_auth(username: &str, password: &str) -> Self {
        super::canary::record(password);
        Self::spawn(Some((username.to_owned(), password.to_owned())))
    }

    fn spawn(auth: Option<(String, String)>) -> Self {
        super::logs::init();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp sink");
        let addr = listener.local_addr().expect("smtp sink address");
        let shared = Arc::new(Shared {
            auth,
            mail: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            commands: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let accepting = Arc::clone(&shared);
        // Detached: a blocked accept must not keep the test process alive.
        thread::spawn(move || accept_loop(&listener, &accepting));
        Self { addr, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Everything received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.mail).clone()
    }

    /// Every command verb received so far (`EHLO`, `AUTH`, `MAIL`, ...), across all
    /// connections, in arrival order.
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.commands).clone()
    }

    /// Blocks until at least `n` messages have arrived and returns them all; panics
    /// with what did arrive if that takes longer than `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        let mut mail = lock(&self.shared.mail);
        while mail.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let got: Vec<_> = mail
                    .iter()
                    .map(|m| format!("{} -> {:?}: {:?}", m.from, m.to, m.subject()))
                    .collect();
                panic!(
                    "SMTP sink at {}: expected {n} message(s) within {timeout:?}, got {}: {got:#?}",
                    self.addr,
                    mail.len()
                );
            }
            mail = self
                .shared
                .arrived
                .wait_timeout(mail, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        mail.clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocked accept, which then sees `stopping`.
        let _ = TcpStream::connect(self.addr);
        // Unblocks sessions waiting on a client; a panicked test must not abort here.
        for (_, conn) in lock(&self.shared.open).drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&shared.open).insert(id, clone);
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            // A client that vanishes mid-session is its problem, not the test's.
            let _ = Session::new(&shared).serve(&stream);
            // Closes the socket for the client even when the session ended on an error.
            let _ = stream.shutdown(Shutdown::Both);
            lock(&shared.open).remove(&id);
        });
    }
}

/// One SMTP session: greeting, then commands until QUIT or the client goes away.
struct Session<'a> {
    shared: &'a Shared,
    greeted: bool,
    authenticated: bool,
    from: Option<String>,
    to: Vec<String>,
}

type Io<T> = std::io::Result<T>;

impl<'a> Session<'a> {
    fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            greeted: false,
            authenticated: false,
            from: None,
            to: Vec::new(),
        }
    }

    fn serve(mut self, stream: &TcpStream) -> Io<()> {
        stream.set_read_timeout(Some(IDLE))?;
        let mut out = stream.try_clone()?;
        let mut input = BufReader::new(stream);
        reply(&mut out, "220 outpost-test-sink ESMTP ready")?;
        while let Some(line) = read_line(&mut input)? {
            let (verb, arg) = match line.split_once(' ') {
                Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim()),
                None => (line.to_ascii_uppercase(), ""),
            };
            lock(&self.shared.commands).push(verb.clone());
            match verb.as_str() {
                "EHLO" => self.ehlo(&mut out, arg)?,
                "HELO" => self.helo(&mut out, arg)?,
                "MAIL" => self.mail(&mut out, arg)?,
                "RCPT" => self.rcpt(&mut out, arg)?,
                "DATA" => self.data(&mut out, &mut input, arg)?,
                "AUTH" => self.auth(&mut out, &mut input, arg)?,
                "RSET" => {
                    self.reset();
                    reply(&mut out, "250 2.0.0 OK")?;
                }
                "NOOP" => reply(&mut out, "250 2.0.0 OK")?,
                "QUIT" => return reply(&mut out, "221 2.0.0 Bye"),
                "STARTTLS" | "VRFY" | "EXPN" | "HELP" | "TURN" | "ETRN" | "BDAT" => {
                    reply(&mut out, "502 5.5.1 Command not implemented")?;
                }
                _ => reply(&mut out, "500 5.5.2 Command unrecognized")?,
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    fn ehlo(&mut self, out: &mut TcpStream, arg: &str) -> Io<()> {
        if arg.is_empty() {
            return reply(out, "501 5.5.4 EHLO needs a domain");
        }
        self.reset();
        self.greeted = true;
        let mut lines = vec![format!("outpost-test-sink greets {arg}"), "8BITMIME".into()];
        if self.shared.auth.is_some() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        let last = lines.len() - 1;
        let text: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
            .collect();
        reply(out, &text.join("\r\n"))
    }

    fn helo(&mut self, out: &mut TcpStream, arg: &str) -> Io<()> {
        if arg.is_empty() {
            return reply(out, "501 5.5.4 HELO needs a domain");
        }
        self.reset();
        self.greeted = true;
        reply(out, "250 outpost-test-sink")
    }

    fn mail(&mut self, out: &mut TcpStream, arg: &str) -> Io<()> {
        if !self.greeted {
            return reply(out, "503 5.5.1 Say EHLO first");
        }
        if self.shared.auth.is_some() && !self.authenticated {
            return reply(out, "530 5.7.0 Authentication required");
        }
        if self.from.is_some() {
            return reply(out, "503 5.5.1 Nested MAIL command");
        }
        match path(arg, "FROM:") {
            Some(from) => {
                self.from = Some(from);
                reply(out, "250 2.1.0 OK")
            }
            None => reply(out, "501 5.5.4 Syntax: MAIL FROM:<address>"),
        }
    }

    fn rcpt(&mut self, out: &mut TcpStream, arg: &str) -> Io<()> {
        if self.from.is_none() {
            return reply(out, "503 5.5.1 Need MAIL before RCPT");
        }
        match path(arg, "TO:") {
            Some(to) if !to.is_empty() => {
                self.to.push(to);
                reply(out, "250 2.1.5 OK")
            }
            _ => reply(out, "501 5.5.4 Syntax: RCPT TO:<address>"),
        }
    }

    fn data(&mut self, out: &mut TcpStream, input: &mut impl BufRead, arg: &str) -> Io<()> {
        if !arg.is_empty() {
            return reply(out, "501 5.5.4 DATA takes no argument");
        }
        if self.to.is_empty() {
            return reply(out, "503 5.5.1 Need RCPT before DATA");
        }
        reply(out, "354 End data with <CR><LF>.<CR><LF>")?;
        let mut data = String::new();
        loop {
            let Some(line) = read_line(input)? else {
                // Connection lost mid-message: the transaction never completed.
                return Ok(());
            };
            if line == "." {
                break;
            }
            // RFC 5321 4.5.2: a leading dot was doubled by the client.
            data.push_str(line.strip_prefix('.').unwrap_or(&line));
            data.push_str("\r\n");
        }
        let mail = ReceivedMail {
            from: self.from.take().unwrap_or_default(),
            to: std::mem::take(&mut self.to),
            data,
        };
        // Stored before the 250, so a client whose send returned Ok finds it here.
        lock(&self.shared.mail).push(mail);
        self.shared.arrived.notify_all();
        reply(out, "250 2.0.0 OK queued")
    }

    fn auth(&mut self, out: &mut TcpStream, input: &mut impl BufRead, arg: &str) -> Io<()> {
        let Some((user, pass)) = &self.shared.auth else {
            return reply(out, "502 5.5.1 AUTH not offered");
        };
        if !self.greeted {
            return reply(out, "503 5.5.1 Say EHLO first");
        }
        if self.authenticated {
            return reply(out, "503 5.5.1 Already authenticated");
        }
        if self.from.is_some() {
            return reply(out, "503 5.5.1 AUTH not allowed during a mail transaction");
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_owned())),
            None => (arg.to_ascii_uppercase(), None),
        };
        let given = match mechanism.as_str() {
            "PLAIN" => {
                let Some(response) = challenge(out, input, "", initial)? else {
                    return reply(out, "501 5.7.0 Authentication cancelled");
                };
                // authzid NUL authcid NUL passwd (RFC 4616).
                let mut parts = response.splitn(3, '\0').skip(1);
                match (parts.next(), parts.next()) {
                    (Some(u), Some(p)) => Some((u.to_owned(), p.to_owned())),
                    _ => None,
                }
            }
            "LOGIN" => {
                let Some(u) = challenge(out, input, "Username:", initial)? else {
                    return reply(out, "501 5.7.0 Authentication cancelled");
                };
                let Some(p) = challenge(out, input, "Password:", None)? else {
                    return reply(out, "501 5.7.0 Authentication cancelled");
                };
                Some((u, p))
            }
            _ => return reply(out, "504 5.5.4 Unrecognized authentication type"),
        };
        if given.as_ref().is_some_and(|(u, p)| u == user && p == pass) {
            self.authenticated = true;
            reply(out, "235 2.7.0 Authentication successful")
        } else {
            reply(out, "535 5.7.8 Authentication credentials invalid")
        }
    }
}

/// One SASL step: the initial response if the client sent one, else a 334 challenge
/// and the client's answer. `None` when the client cancels (`*`) or sends bad base64.
fn challenge(
    out: &mut TcpStream,
    input: &mut impl BufRead,
    prompt: &str,
    initial: Option<String>,
) -> Io<Option<String>> {
    let encoded = match initial {
        // `=` is an empty initial response (RFC 4954 4).
        Some(initial) if initial == "=" => String::new(),
        Some(initial) => initial,
        None => {
            reply(out, &format!("334 {}", BASE64.encode(prompt)))?;
            match read_line(input)? {
                Some(line) => line,
                None => return Ok(None),
            }
        }
    };
    if encoded == "*" {
        return Ok(None);
    }
    Ok(BASE64
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok()))
}

/// The address in `FROM:<a@b> PARAM=...` / `TO:<a@b>`, without brackets.
fn path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start().strip_prefix('<')?;
    let (address, _params) = rest.split_once('>')?;
    if address.contains(char::is_whitespace) {
        return None;
    }
    Some(address.to_owned())
}

/// One line without its CRLF (a bare LF is tolerated); `None` at end of stream.
fn read_line(input: &mut impl BufRead) -> Io<Option<String>> {
    let mut buf = Vec::new();
    let n = Read::take(&mut *input, MAX_LINE as u64).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long or cut off",
        ));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One write per reply: a reply split over two writes stalls on Nagle's algorithm
/// against the client's delayed ACK, adding ~40 ms to every command.
fn reply(out: &mut TcpStream, text: &str) -> Io<()> {
    out.write_all(format!("{text}\r\n").as_bytes())
}

impl ReceivedMail {
    /// The first header called `name` (any case), unfolded, still encoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut fields: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            match fields.last_mut() {
                Some(field) if line.starts_with([' ', '\t']) => field.push_str(line),
                _ => fields.push(line.to_owned()),
            }
        }
        fields.into_iter().find_map(|field| {
            let (key, value) = field.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// The Subject header with RFC 2047 encoded words decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject").map(|s| decode_words(&s))
    }

    /// The body decoded per its Content-Transfer-Encoding, with LF line endings. The
    /// CRLF that ends the last line is dropped, so a body sent as `text` reads `text`.
    pub fn body(&self) -> String {
        let raw = match self.data.split_once("\r\n\r\n") {
            Some((_, body)) => body.strip_suffix("\r\n").unwrap_or(body),
            None => "",
        };
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let decoded = match encoding.as_str() {
            "quoted-printable" => quoted_printable(raw),
            "base64" => {
                let compact: String = raw.split_whitespace().collect();
                let bytes = BASE64.decode(compact).expect("body is valid base64");
                String::from_utf8(bytes).expect("body is UTF-8")
            }
            _ => raw.to_owned(),
        };
        decoded.replace("\r\n", "\n")
    }
}

/// RFC 2045 6.7: `=XX` is a byte, `=` at a line end is a soft break.
fn quoted_printable(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'=' {
            bytes.push(b);
        } else if let Some(tail) = rest.strip_prefix(b"\r\n") {
            rest = tail;
        } else if let Some(byte) = rest.get(..2).and_then(hex_byte) {
            bytes.push(byte);
            rest = &rest[2..];
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).expect("quoted-printable body is UTF-8")
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()
}

/// RFC 2047: decodes `=?charset?B|Q?text?=` words (UTF-8 and ASCII only); whitespace
/// between two adjacent encoded words is not part of the text.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut last_was_word = false;
    for token in value.split_inclusive([' ', '\t']) {
        let word = token.trim_end_matches([' ', '\t']);
        let space = &token[word.len()..];
        match decode_word(word) {
            Some(decoded) => {
                if !last_was_word {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                last_was_word = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(word);
                last_was_word = false;
            }
        }
        pending_space = space.to_owned();
    }
    out.push_str(&pending_space);
    out
}

fn decode_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut parts = inner.splitn(3, '?');
    let (charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
    if !(charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("us-ascii")) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => BASE64.decode(text).ok()?,
        "Q" | "q" => {
            let mut bytes = Vec::new();
            let mut rest = text.as_bytes();
            while let Some((&b, tail)) = rest.split_first() {
                rest = tail;
                match b {
                    b'_' => bytes.push(b' '),
                    b'=' => {
                        bytes.push(hex_byte(rest.get(..2)?)?);
                        rest = &rest[2..];
                    }
                    _ => bytes.push(b),
                }
            }
            bytes
        }
        _ => return None,
    };
    String::from_utf8(bytes).ok()
}
