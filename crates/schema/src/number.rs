//! Numeric checks (`multipleOf`, `minimum`, `maximum`) as kube-openapi's number validator does
//! them, with bounds rendered like Go's `%v`.

use crate::node::Node;
use crate::validate::Loc;
use rkube_api::field::FieldError;
use serde_json::{Number, Value};

/// A JSON number as upstream's JSON decoding sees it: an `int64` when it fits, else a `float64`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub(crate) fn of(n: &Number) -> Num {
        match n.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        }
    }
}

/// Whether a float holds an integral value JSON can carry exactly, as go-openapi's
/// `IsFloat64AJSONInteger`.
pub(crate) fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_992.0; // 2^53
    if !f.is_finite() || !(-MAX..=MAX).contains(&f) {
        return false;
    }
    let g = f.trunc();
    if f == g {
        return true;
    }
    let diff = (f - g).abs();
    diff / (f.abs() + g.abs()).min(f64::MAX) < 1e-9
}

/// Renders a float as Go's `%v` does (`%g` with the shortest precision): exponent form when the
/// decimal exponent is below -4 or at least 6, e.g. `1e+06`, `0.0001`, `2.5`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Go's shortest formatting.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let dp = exp + 1; // digits before the decimal point
    let body = if dp <= 0 {
        format!("0.{}{digits}", "0".repeat(dp.unsigned_abs() as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd).unsigned_abs() as usize))
    } else {
        let (int, frac) = digits.split_at(dp.unsigned_abs() as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Go's `int64(f)` conversion of a bound, saturating where Go's is undefined.
fn trunc(f: f64) -> i64 {
    f as i64
}

/// Runs `multipleOf`, `minimum` and `maximum` on a number, in upstream's order.
pub(crate) fn check(n: &Node, v: &Value, num: Num, loc: &Loc, out: &mut Vec<FieldError>) {
    let name = &loc.name;
    let fail = |out: &mut Vec<FieldError>, detail: String| {
        out.push(FieldError::invalid(&loc.path, v.clone(), &detail));
    };
    if let Some(m) = n.multiple_of {
        if m < 0.0 {
            let factor = match num {
                Num::Int(_) => trunc(m).to_string(),
                Num::Float(_) => go_float(m),
            };
            fail(
                out,
                format!("factor MultipleOf declared for {name} must be positive: {factor}"),
            );
        } else {
            match num {
                Num::Int(d) if trunc(m) != 0 => {
                    let f = trunc(m);
                    if d.checked_rem(f).is_none_or(|r| r != 0) {
                        fail(out, format!("{name} in body should be a multiple of {f}"));
                    }
                }
                _ => {
                    let d = match num {
                        Num::Int(i) => i as f64,
                        Num::Float(f) => f,
                    };
                    let mult = if m < 1.0 { (1.0 / m) * d } else { d / m };
                    if !is_json_integer(mult) {
                        fail(
                            out,
                            format!("{name} in body should be a multiple of {}", go_float(m)),
                        );
                    }
                }
            }
        }
    }
    if let Some(min) = n.minimum {
        let exclusive = n.exclusive_minimum;
        let (below, bound) = match num {
            Num::Int(d) => {
                let b = trunc(min);
                (d < b || (exclusive && d == b), b.to_string())
            }
            Num::Float(d) => (d < min || (exclusive && d == min), go_float(min)),
        };
        if below {
            let op = if exclusive { "" } else { " or equal to" };
            fail(
                out,
                format!("{name} in body should be greater than{op} {bound}"),
            );
        }
    }
    if let Some(max) = n.maximum {
        let exclusive = n.exclusive_maximum;
        let (above, bound) = match num {
            Num::Int(d) => {
                let b = trunc(max);
                (d > b || (exclusive && d == b), b.to_string())
            }
            Num::Float(d) => (d > max || (exclusive && d == max), go_float(max)),
        };
        if above {
            let op = if exclusive { "" } else { " or equal to" };
            fail(
                out,
                format!("{name} in body should be less than{op} {bound}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_render_like_go() {
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(10.0), "10");
        assert_eq!(go_float(-2.5), "-2.5");
        assert_eq!(go_float(0.1), "0.1");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(1_234_567.0), "1.234567e+06");
        assert_eq!(go_float(1.5e300), "1.5e+300");
    }

    #[test]
    fn json_integers() {
        assert!(is_json_integer(3.0));
        assert!(!is_json_integer(3.5));
        assert!(!is_json_integer(f64::NAN));
        assert!(!is_json_integer(1e300));
        assert!(is_json_integer(0.1 * 30.0));
    }
}
