//! `IntOrString` values (maxSurge, maxUnavailable) resolved against a total, as upstream's
//! `GetScaledValueFromIntOrPercent` does.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A count, or a percentage of `total` rounded up or down as asked; `default` when unset; a
/// malformed value counts as 0.
pub fn scaled_value(value: Option<&IntOrString>, total: i32, round_up: bool, default: &str) -> i32 {
    let text = match value {
        Some(IntOrString::Int(i)) => return *i,
        Some(IntOrString::String(s)) => s.as_str(),
        None => default,
    };
    let Some(percent) = text.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
        return text.parse().unwrap_or(0);
    };
    let product = percent * i64::from(total);
    let value = if round_up {
        (product + 99) / 100
    } else {
        product / 100
    };
    value as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_as_upstream() {
        let s = |v: &str| IntOrString::String(v.to_owned());
        assert_eq!(scaled_value(Some(&s("25%")), 10, true, ""), 3);
        assert_eq!(scaled_value(Some(&s("25%")), 10, false, ""), 2);
        assert_eq!(scaled_value(Some(&IntOrString::Int(2)), 10, true, ""), 2);
        assert_eq!(scaled_value(None, 4, true, "25%"), 1);
    }

    #[test]
    fn malformed_values_count_as_zero() {
        let s = |v: &str| IntOrString::String(v.to_owned());
        assert_eq!(scaled_value(Some(&s("abc%")), 10, true, ""), 0);
        assert_eq!(scaled_value(Some(&s("abc")), 10, true, ""), 0);
        assert_eq!(scaled_value(Some(&s("3")), 10, true, ""), 3);
    }
}
