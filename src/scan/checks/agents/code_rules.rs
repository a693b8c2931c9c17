//! What a skill's files must not do: fetch and run code from the network, run code
//! hidden in an encoding, open a shell for someone elsewhere, or write outside the
//! skill's own directory. Each rule is one kind of line a skill has no business
//! carrying; the tests beside it hold what each must find and the near misses it must
//! not.

use std::sync::OnceLock;

use super::patterns::{Compiled, Rule, compile, rule};
use crate::scan::Severity;

/// A shell, as a command's first word (`sh`, `bash`, `/bin/zsh`, `sudo -E bash`).
macro_rules! shell {
    () => {
        r"(?:sudo\s+(?:-\S+\s+)*)?(?:/usr)?(?:/bin/)?(?:ba|z|da|k|fi)?sh\b"
    };
}

/// Places outside any skill that an install or a prompt could have it change: system
/// configuration and programs, root's home, cron and web roots.
macro_rules! system {
    () => {
        r#"["']?/(?:etc|usr|bin|sbin|lib|lib64|boot|root|opt|srv|var/spool/cron|var/www)/"#
    };
}

/// A home directory's files that grant access or run at every login.
macro_rules! home_startup {
    () => {
        r#"["']?(?:~|\$HOME|\$\{HOME\}|/root|/home/[^/\s]+)/\.(?:ssh/|bashrc\b|bash_profile\b|profile\b|zshrc\b|config/autostart/)"#
    };
}

/// The destination of a copy: the last argument, before the line or command ends.
macro_rules! copy_to {
    ($place:expr) => {
        concat!(
            r#"(?m)\b(?:cp|mv|install|rsync|ln)\b[^\n;|&]*\s"#,
            $place,
            r#"[^\s;|&]*["']?\s*(?:$|[;|&])"#
        )
    };
}

/// In matching order.
pub const RULES: [Rule; 11] = [
    rule(
        "remote.pipe_to_shell",
        "code downloaded and piped straight into a shell",
        Severity::High,
        concat!(r"\b(?:curl|wget)\b[^|\n]*\|\s*", shell!()),
    ),
    rule(
        "remote.substituted_into_shell",
        "code downloaded and run by a shell through a substitution",
        Severity::High,
        r#"\b(?:(?:ba|z|da|k)?sh\s+<\(\s*|(?:(?:ba|z|da|k)?sh\s+-c|eval)\s+["']?\$\(\s*)(?:curl|wget)\b"#,
    ),
    rule(
        "remote.powershell",
        "code downloaded and run by PowerShell",
        Severity::High,
        r"(?i)\b(?:iex|invoke-expression)\b[^\n]*\b(?:iwr|irm|invoke-webrequest|invoke-restmethod|downloadstring)\b|(?i)\b(?:iwr|irm|invoke-webrequest|invoke-restmethod)\b[^\n]*\|\s*(?:iex|invoke-expression)\b",
    ),
    rule(
        "obfuscated.decoded_exec",
        "encoded data decoded and run as code",
        Severity::Critical,
        concat!(
            r"\bbase(?:64|32)\s+(?:-d|--decode|-D)\b[^|\n]*\|\s*",
            shell!(),
            r"|\beval\b[^\n]*\$\([^)\n]*\bbase(?:64|32)\s+(?:-d|--decode|-D)\b",
            r"|\b(?:exec|eval)\s*\([^\n]*\bb(?:64|32|16|85)decode\s*\(",
            r"|\b(?:eval|Function)\s*\(\s*(?:atob\s*\(|Buffer\.from\s*\([^)\n]*base64)",
            r"|(?i:\bpowershell(?:\.exe)?\b[^\n]*\s-e(?:nc(?:odedcommand)?)?\s+[A-Za-z0-9+/=]{16,})"
        ),
    ),
    rule(
        "reverse_shell.dev_tcp",
        "a shell's input and output sent over /dev/tcp (a reverse shell)",
        Severity::Critical,
        r"/dev/(?:tcp|udp)/[^/\s]+/\d+",
    ),
    rule(
        "reverse_shell.netcat",
        "netcat handing a shell to the other end (a reverse or bind shell)",
        Severity::Critical,
        r"\b(?:nc|ncat|netcat)\b[^\n|;&]*\s(?:-[a-zA-Z]*e|-c|--exec|--sh-exec)\s+\S*(?:sh|bash|cmd(?:\.exe)?|powershell)\b",
    ),
    rule(
        "reverse_shell.interactive",
        "an interactive shell piped to a network tool (a reverse shell)",
        Severity::Critical,
        r"(?i:\bsocat\b[^\n]*\b(?:exec|system):)|\b(?:ba|z|da|k)?sh\s+-i\b[^\n|]*\|\s*(?:nc|ncat|netcat|telnet|openssl|socat)\b",
    ),
    rule(
        "reverse_shell.scripted",
        "a socket wired to a shell from a script (a reverse shell)",
        Severity::Critical,
        concat!(
            r"\bsocket\b[^\n]*(?:\bpty\.spawn\s*\(|\bdup2\s*\()",
            r"|\bdup2\s*\(\s*[\w.]+\.fileno\(\)\s*,\s*[012]\s*\)",
            r"|\buse\s+Socket\b[^\n]*\bexec\b",
            r"|\bfsockopen\s*\([^\n]*\b(?:exec|shell_exec|system|passthru|proc_open|popen)\b",
            r"|\bTCPSocket\.(?:new|open)\b[^\n]*\b(?:exec|spawn|popen)\b"
        ),
    ),
    rule(
        "write.home_startup",
        "a write to SSH keys or a login script in a home directory",
        Severity::Critical,
        concat!(
            r"(?:>>?\s*|\btee\s+(?:-a\s+)?)",
            home_startup!(),
            "|",
            copy_to!(home_startup!()),
            r#"|\bexpanduser\s*\(\s*["']~/\.(?:ssh/|bashrc|bash_profile|profile|zshrc)[^\n]*["'][wa]\+?["']"#
        ),
    ),
    rule(
        "write.system",
        "a write to system files outside the skill's directory",
        Severity::High,
        concat!(
            r"(?:>>?\s*|\btee\s+(?:-a\s+)?|\bdd\b[^\n]*\bof=)",
            system!(),
            "|",
            copy_to!(system!()),
            r"|\bsed\s+(?:-\S+\s+)*-i\S*\s[^\n]*\s",
            system!(),
            r#"|\bopen\s*\(\s*"#,
            system!(),
            r#"[^"'\n]*["']\s*,\s*["'][wax]"#,
            r"|\b(?:writeFile|writeFileSync|appendFile|appendFileSync)\s*\(\s*",
            system!()
        ),
    ),
    rule(
        "write.path_escape",
        "a write that climbs out of the skill's directory (../)",
        Severity::High,
        concat!(
            r#"(?:>>?\s*|\btee\s+(?:-a\s+)?)["']?(?:\./)?\.\./"#,
            "|",
            copy_to!(r#"["']?(?:\./)?\.\./"#),
            r#"|\bopen\s*\(\s*["'](?:\./)?\.\./[^"'\n]*["']\s*,\s*["'][wax]"#
        ),
    ),
];

/// Every rule, compiled once.
pub fn all() -> &'static [Compiled] {
    static COMPILED: OnceLock<Vec<Compiled>> = OnceLock::new();
    COMPILED.get_or_init(|| compile(&RULES))
}

#[cfg(test)]
#[path = "code_rules_tests.rs"]
mod tests;
