//! String formats CRD schemas support, as upstream's `StripUnsupportedFormatsPostProcess` keeps
//! them, with hand-written checks in the spirit of kube-openapi's `strfmt` registry.

use regex::Regex;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// The formats upstream validates for strings (names without dashes, lower case).
const SUPPORTED: [&str; 26] = [
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "k8sshortname",
    "k8slongname",
];

fn normalize(format: &str) -> String {
    format.replace('-', "").to_ascii_lowercase()
}

/// Whether upstream validates strings of this format (others are ignored).
pub(crate) fn is_supported(format: &str) -> bool {
    let name = normalize(format);
    SUPPORTED.contains(&name.as_str()) || name == "quantity"
}

type Lazy = LazyLock<Option<Regex>>;

/// Compiles one of the constant patterns below (they all compile; `None` would match nothing).
fn re(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

fn matches(re: &Lazy, s: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(s))
}

static UUID: Lazy = LazyLock::new(|| {
    re(
        "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?([0-9a-fA-F])[0-9a-fA-F]{3}-?([0-9a-fA-F])[0-9a-fA-F]{3}-?[0-9a-fA-F]{12}$",
    )
});
static TIME: Lazy =
    LazyLock::new(|| re(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(z|[+-][0-9]{2}:[0-9]{2})$"));
static HEXCOLOR: Lazy = LazyLock::new(|| re("^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGBCOLOR: Lazy = LazyLock::new(|| {
    let c = r"\s*(0|[1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5])\s*";
    re(&format!(r"^rgb\({c},{c},{c}\)$"))
});
static SSN: Lazy = LazyLock::new(|| re("^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$"));
static EMAIL: Lazy = LazyLock::new(|| re(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)*$"));
static GO_DURATION: Lazy =
    LazyLock::new(|| re(r"^[-+]?(([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$"));
static SCALA_DURATION: Lazy = LazyLock::new(|| {
    re(
        r"^[0-9]+\s*(ns|nanos?|nanoseconds?|us|micros?|microseconds?|ms|millis?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?|w|weeks?)$",
    )
});
static QUANTITY: Lazy = LazyLock::new(|| {
    re(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
});
static URI_SCHEME: Lazy = LazyLock::new(|| re("^[a-zA-Z][a-zA-Z0-9+.-]*:"));

/// Whether `s` is valid for `format` (a supported format; unknown ones always pass).
pub(crate) fn check(format: &str, s: &str) -> bool {
    match normalize(format).as_str() {
        "datetime" => is_date_time(s),
        "date" => is_date(s),
        "byte" => is_base64(s),
        "uuid" => matches(&UUID, s),
        "uuid3" | "uuid4" | "uuid5" => is_uuid_version(s, format),
        "ipv4" => s.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => s.contains(':') && s.parse::<IpAddr>().is_ok(),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "hostname" => is_hostname(s),
        "email" => matches(&EMAIL, s),
        "hexcolor" => matches(&HEXCOLOR, s),
        "rgbcolor" => matches(&RGBCOLOR, s),
        "ssn" => matches(&SSN, s),
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "duration" => s == "0" || matches(&GO_DURATION, s) || matches(&SCALA_DURATION, s),
        "quantity" => matches(&QUANTITY, s),
        "uri" => is_uri(s),
        "k8sshortname" => is_dns_label(s),
        "k8slongname" => s.len() <= 253 && !s.is_empty() && s.split('.').all(is_dns_label),
        // isbn, creditcard, password: accepted as is.
        _ => true,
    }
}

/// `YYYY-MM-DD` with month 01-12 and day 01-31, as strfmt's `IsDate`.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return false;
    }
    let month = &s[5..7];
    let day = &s[8..10];
    ("01"..="12").contains(&month) && ("01"..="31").contains(&day)
}

/// An RFC 3339 date-time, as strfmt's `IsDateTime`: a date, `T` (any case) and a full time.
pub(crate) fn is_date_time(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let Some(caps) = TIME.as_ref().and_then(|r| r.captures(time)) else {
        return false;
    };
    let field = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    field(1) <= "23" && field(2) <= "59" && field(3) <= "59"
}

/// Standard base64 with padding, as Go's `base64.StdEncoding.DecodeString` accepts it.
pub(crate) fn is_base64(s: &str) -> bool {
    let s: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    if pad > 2 {
        return false;
    }
    b[..b.len() - pad]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

fn is_uuid_version(s: &str, format: &str) -> bool {
    let Some(caps) = UUID.as_ref().and_then(|r| r.captures(s)) else {
        return false;
    };
    let version = caps.get(1).map_or("", |m| m.as_str());
    let variant = caps.get(2).map_or("", |m| m.as_str()).to_ascii_lowercase();
    let wanted = &format[format.len().saturating_sub(1)..];
    let variant_ok = wanted == "3" || matches!(variant.as_str(), "8" | "9" | "a" | "b");
    version == wanted && variant_ok
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => bits <= 32,
        Ok(IpAddr::V6(_)) => bits <= 128,
        Err(_) => ip.parse::<Ipv6Addr>().is_ok() && bits <= 128,
    }
}

/// A MAC address as Go's `net.ParseMAC`: 6, 8 or 20 octets, `:`/`-` or dotted form.
fn is_mac(s: &str) -> bool {
    let hex = |g: &str, n: usize| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit());
    let octets_ok = |n: usize| matches!(n, 6 | 8 | 20);
    for sep in [':', '-'] {
        if s.contains(sep) {
            let groups: Vec<&str> = s.split(sep).collect();
            return octets_ok(groups.len()) && groups.iter().all(|g| hex(g, 2));
        }
    }
    let groups: Vec<&str> = s.split('.').collect();
    octets_ok(groups.len() * 2) && groups.iter().all(|g| hex(g, 4))
}

fn is_hostname(s: &str) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Roughly Go's `url.ParseRequestURI`: an absolute URI or an absolute path, without spaces.
fn is_uri(s: &str) -> bool {
    !s.is_empty()
        && !s.chars().any(char::is_whitespace)
        && (s.starts_with('/') || matches(&URI_SCHEME, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_check() {
        assert!(check("date-time", "2024-01-02T03:04:05Z"));
        assert!(check("date-time", "2024-01-02t03:04:05.123+02:00"));
        assert!(!check("date-time", "2024-01-02 03:04:05"));
        assert!(!check("date-time", "2024-13-02T03:04:05Z"));
        assert!(!check("date-time", "2024-01-02T24:04:05Z"));
        assert!(check("date", "2024-02-29"));
        assert!(!check("date", "2024-2-29"));
        assert!(check("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(check("uuid", "123E4567E89B12D3A456426614174000"));
        assert!(!check("uuid", "not-a-uuid"));
        assert!(check("uuid4", "123e4567-e89b-42d3-a456-426614174000"));
        assert!(!check("uuid4", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(check("byte", "aGVsbG8="));
        assert!(check("byte", ""));
        assert!(!check("byte", "aGVsbG8"));
        assert!(!check("byte", "a*=="));
        assert!(check("ipv4", "10.0.0.1"));
        assert!(!check("ipv4", "10.0.0.256"));
        assert!(check("ipv6", "::1"));
        assert!(!check("ipv6", "10.0.0.1"));
        assert!(check("cidr", "10.0.0.0/8"));
        assert!(!check("cidr", "10.0.0.0/33"));
        assert!(check("mac", "00:1a:2b:3c:4d:5e"));
        assert!(!check("mac", "00:1a:2b"));
        assert!(check("hostname", "example.com"));
        assert!(!check("hostname", "-bad.com"));
        assert!(check("duration", "1h30m"));
        assert!(check("duration", "22 ns"));
        assert!(!check("duration", "forever"));
        assert!(check("k8s-short-name", "my-name"));
        assert!(!check("k8s-short-name", "My-Name"));
        assert!(check("k8s-long-name", "a.b-c.d"));
        assert!(check("quantity", "10Gi"));
        assert!(!check("quantity", "ten"));
        assert!(check("email", "a@example.com"));
        assert!(!check("email", "nope"));
        assert!(check("uri", "https://example.com/x"));
        assert!(!check("uri", "not a uri"));
        assert!(check("password", "anything"));
    }

    #[test]
    fn unsupported_formats_are_ignored() {
        assert!(is_supported("date-time"));
        assert!(!is_supported("int-or-string"));
        assert!(!is_supported("my-format"));
    }
}
