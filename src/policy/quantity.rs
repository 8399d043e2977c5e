//! Kubernetes resource quantities, just enough to compare a request with a limit (a default
//! must never produce `requests > limits`, which the API server rejects).

use std::cmp::Ordering;

/// Parses a quantity (`100m`, `128Mi`, `1.5`, `2e3`, `1G`) into a plain number of base units.
/// Returns `None` for anything that is not a quantity.
pub fn parse(s: &str) -> Option<f64> {
    let s = s.trim();
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let negative = s.starts_with('-');
    let digits_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(digits_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let mantissa: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp => {
            let e = exp.strip_prefix(['e', 'E'])?;
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            10f64.powi(e.parse().ok()?)
        }
    };
    let v = mantissa * scale;
    v.is_finite().then_some(if negative { -v } else { v })
}

/// Reads a quantity from a JSON value: a string or a number.
pub fn of_json(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Compares two quantities given as JSON values; `None` when either does not parse.
pub fn compare(a: &serde_json::Value, b: &serde_json::Value) -> Option<Ordering> {
    of_json(a)?.partial_cmp(&of_json(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_suffixes_and_exponents() {
        assert_eq!(parse("100m"), Some(0.1));
        assert_eq!(parse("128Mi"), Some(134_217_728.0));
        assert_eq!(parse("1.5Gi"), Some(1_610_612_736.0));
        assert_eq!(parse("2e3"), Some(2000.0));
        assert_eq!(parse("1G"), Some(1e9));
        assert_eq!(parse("0"), Some(0.0));
        assert_eq!(parse(".5"), Some(0.5));
        for bad in ["", "m", "lots", "1x", "1..2", "1e", "1Mib", "."] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn compares_strings_and_numbers() {
        assert_eq!(compare(&json!("500m"), &json!(1)), Some(Ordering::Less));
        assert_eq!(
            compare(&json!("1Gi"), &json!("256Mi")),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(&json!("1000m"), &json!("1")), Some(Ordering::Equal));
        assert_eq!(compare(&json!("x"), &json!("1")), None);
    }
}
