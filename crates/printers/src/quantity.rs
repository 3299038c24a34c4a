//! `resource.Quantity` in canonical form, as `Quantity.String()` prints it
//! ("1024Mi" → "1Gi", "1000" → "1k", "0.5" → "500m").

use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// The canonical string of a quantity field; "0" when unset, and the text
/// unchanged when it does not parse or overflows.
pub(crate) fn quantity(v: &Value) -> String {
    match v {
        Value::String(text) => canonical(text).unwrap_or_else(|| text.clone()),
        Value::Number(n) => canonical(&n.to_string()).unwrap_or_else(|| n.to_string()),
        _ => "0".to_owned(),
    }
}

/// Canonicalises quantity text, `None` when it is not a quantity.
fn canonical(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let mut mantissa: i128 = 0;
    for d in whole.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(d - b'0'))?;
    }
    if negative {
        mantissa = -mantissa;
    }
    let frac_digits = i32::try_from(frac.len()).ok()?;
    let (format, exp10, exp2) = parse_suffix(suffix)?;
    let scale = exp10 - frac_digits;
    if mantissa == 0 {
        return Some("0".to_owned());
    }
    // The amount is mantissa * 2^exp2 * 10^scale.
    let value = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if format == Format::BinarySi {
        let whole_value = scaled_to_integer(value, scale);
        match whole_value {
            Some(n) if n.abs() >= 1024 => {
                let (mut n, mut k) = (n, 0usize);
                while n % 1024 == 0 && k < 6 {
                    n /= 1024;
                    k += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
                return Some(format!("{n}{suffix}"));
            }
            // Small or fractional binary amounts print as DecimalSI.
            _ => return decimal(value, scale, Format::DecimalSi),
        }
    }
    decimal(value, scale, format)
}

/// `value * 10^scale` when it is a whole number.
fn scaled_to_integer(value: i128, scale: i32) -> Option<i128> {
    if scale >= 0 {
        return value.checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?);
    }
    let div = 10i128.checked_pow(u32::try_from(-scale).ok()?)?;
    (value % div == 0).then(|| value / div)
}

/// `AsCanonicalBytes` plus the decimal suffix: trailing zeros folded into an
/// exponent that is a multiple of three.
fn decimal(mut value: i128, mut exp: i32, format: Format) -> Option<String> {
    while value % 10 == 0 {
        value /= 10;
        exp += 1;
    }
    match exp.rem_euclid(3) {
        1 => {
            value = value.checked_mul(10)?;
            exp -= 1;
        }
        2 => {
            value = value.checked_mul(100)?;
            exp -= 2;
        }
        _ => {}
    }
    let suffix = match (format, exp) {
        (_, 0) => String::new(),
        (Format::DecimalSi, -9) => "n".to_owned(),
        (Format::DecimalSi, -6) => "u".to_owned(),
        (Format::DecimalSi, -3) => "m".to_owned(),
        (Format::DecimalSi, 3) => "k".to_owned(),
        (Format::DecimalSi, 6) => "M".to_owned(),
        (Format::DecimalSi, 9) => "G".to_owned(),
        (Format::DecimalSi, 12) => "T".to_owned(),
        (Format::DecimalSi, 15) => "P".to_owned(),
        (Format::DecimalSi, 18) => "E".to_owned(),
        (_, e) => format!("e{e}"),
    };
    Some(format!("{value}{suffix}"))
}

/// The format and base-10 / base-2 exponents a suffix stands for.
fn parse_suffix(suffix: &str) -> Option<(Format, i32, u32)> {
    let decimal = |e| Some((Format::DecimalSi, e, 0));
    let binary = |e| Some((Format::BinarySi, 0, e));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((Format::DecimalExponent, exp.parse().ok()?, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Ki", "512"),
            ("100Mi", "100Mi"),
            ("1000", "1k"),
            ("1500M", "1500M"),
            ("1000M", "1G"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("2", "2"),
            ("0", "0"),
            ("0Gi", "0"),
            ("1e3", "1e3"),
            ("10e3", "10e3"),
            ("5Gi", "5Gi"),
            ("-1Ki", "-1Ki"),
        ];
        for (input, want) in cases {
            assert_eq!(quantity(&Value::from(input)), want, "{input}");
        }
        assert_eq!(quantity(&Value::Null), "0");
        assert_eq!(quantity(&Value::from(3)), "3");
        assert_eq!(quantity(&Value::from("bogus")), "bogus");
    }
}
