//! Resource quantities and the resource arithmetic the scheduler does on pods and nodes.
//!
//! Quantities follow upstream's `resource.Quantity`: a signed decimal number followed by an
//! optional suffix (`n u m "" k M G T P E`, `Ki Mi Gi Ti Pi Ei`, or a decimal exponent such as
//! `e3`/`E-2`). A parsed quantity is kept exactly in nano-units (upstream rounds every quantity
//! up to nano precision and caps it at 2^63-1 units), so sums and maxima over containers are
//! exact and [`milli_value`]/[`value`] round up only once, at the end, as upstream does.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

#[cfg(test)]
mod tests;

/// The default CPU request (in millicores) scoring assumes for a container that requests none.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The default memory request (in bytes) scoring assumes for a container that requests none.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Upstream caps quantities at 2^63-1 units.
const MAX_NANOS: i128 = (i64::MAX as i128) * NANOS_PER_UNIT;
/// Significant digits kept from a mantissa; further non-zero digits round the mantissa up.
const MAX_MANTISSA_DIGITS: usize = 36;

/// Why a quantity string could not be parsed (upstream's error texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is not a number followed by a suffix.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    /// The suffix is not one of the known ones.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// Parses a quantity into nano-units, rounded up (away from zero) to a whole nano-unit and
/// capped at ±(2^63-1) units, as upstream's `ParseQuantity`.
pub fn parse_nanos(input: &str) -> Result<i128, QuantityError> {
    let s = input.trim();
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        None => return Err(QuantityError::Format),
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        Some(_) => false,
    };
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &s[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(QuantityError::Format);
    }
    let (binary_exp, decimal_exp) = parse_suffix(&s[i..])?;

    // Mantissa digits without leading zeros; the decimal point moves into the exponent.
    let all: String = format!("{int_digits}{frac_digits}");
    let trimmed = all.trim_start_matches('0');
    let mut exp10 = i64::from(decimal_exp) - frac_digits.len() as i64;
    let (kept, dropped) = if trimmed.len() > MAX_MANTISSA_DIGITS {
        trimmed.split_at(MAX_MANTISSA_DIGITS)
    } else {
        (trimmed, "")
    };
    exp10 += dropped.len() as i64;
    let mut mantissa: i128 = if kept.is_empty() {
        0
    } else {
        kept.parse().map_err(|_| QuantityError::Format)?
    };
    if dropped.bytes().any(|b| b != b'0') {
        mantissa += 1;
    }
    if mantissa == 0 {
        return Ok(0);
    }

    let mut nanos = mantissa;
    for _ in 0..binary_exp {
        nanos = nanos.saturating_mul(2);
        if nanos > MAX_NANOS {
            break;
        }
    }
    let scale = exp10 + 9;
    if scale >= 0 {
        for _ in 0..scale {
            nanos = nanos.saturating_mul(10);
            if nanos > MAX_NANOS {
                break;
            }
        }
    } else {
        nanos = ceil_div_pow10(nanos, scale.unsigned_abs());
    }
    let nanos = nanos.min(MAX_NANOS);
    Ok(if negative { -nanos } else { nanos })
}

/// Divides a positive value by 10^`places`, rounding up.
fn ceil_div_pow10(mut value: i128, places: u64) -> i128 {
    let mut remainder = false;
    for _ in 0..places {
        if value == 0 {
            break;
        }
        remainder |= value % 10 != 0;
        value /= 10;
    }
    if remainder { value + 1 } else { value }
}

/// Returns (power of two, power of ten) for a suffix.
fn parse_suffix(suffix: &str) -> Result<(u32, i32), QuantityError> {
    Ok(match suffix {
        "" => (0, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .ok_or(QuantityError::Suffix)?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Suffix);
            }
            let exp: i64 = rest.parse().map_err(|_| QuantityError::Suffix)?;
            (0, exp.clamp(-1000, 1000) as i32)
        }
    })
}

/// Converts nano-units to `10^-scale_digits` units, rounding away from zero, clamped to i64.
fn nanos_to_scaled(nanos: i128, divisor: i128) -> i64 {
    let magnitude = i128::try_from(nanos.unsigned_abs()).unwrap_or(i128::MAX);
    let mut scaled = magnitude / divisor;
    if magnitude % divisor != 0 {
        scaled += 1;
    }
    let scaled = if nanos < 0 { -scaled } else { scaled };
    scaled.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Nano-units to milli-units, rounding up like upstream's `MilliValue`.
pub fn nanos_to_milli(nanos: i128) -> i64 {
    nanos_to_scaled(nanos, 1_000_000)
}

/// Nano-units to whole units, rounding up like upstream's `Value`.
pub fn nanos_to_value(nanos: i128) -> i64 {
    nanos_to_scaled(nanos, NANOS_PER_UNIT)
}

/// A quantity in milli-units (e.g. millicores), rounded up like upstream's `MilliValue`.
pub fn milli_value(quantity: &str) -> Result<i64, QuantityError> {
    parse_nanos(quantity).map(nanos_to_milli)
}

/// A quantity in whole units (bytes, counts), rounded up like upstream's `Value`.
pub fn value(quantity: &str) -> Result<i64, QuantityError> {
    parse_nanos(quantity).map(nanos_to_value)
}

/// A resource list (name → quantity) kept exactly, in nano-units.
pub type NanoList = BTreeMap<String, i128>;

/// Parses a resource list; quantities that do not parse are left out (logged).
pub fn nano_list(list: &BTreeMap<String, Quantity>) -> NanoList {
    let mut out = NanoList::new();
    for (name, quantity) in list {
        match parse_nanos(&quantity.0) {
            Ok(n) => {
                out.insert(name.clone(), n);
            }
            Err(err) => {
                tracing::debug!(resource = %name, quantity = %quantity.0, %err, "ignoring quantity")
            }
        }
    }
    out
}

fn add_list(into: &mut NanoList, other: &NanoList) {
    for (name, n) in other {
        let entry = into.entry(name.clone()).or_insert(0);
        *entry = entry.saturating_add(*n);
    }
}

fn max_list(into: &mut NanoList, other: &NanoList) {
    for (name, n) in other {
        let entry = into.entry(name.clone()).or_insert(*n);
        if *n > *entry {
            *entry = *n;
        }
    }
}

/// Whether a resource name is tracked as a "scalar" resource (extended resources,
/// `hugepages-*`, `attachable-volumes-*` and `kubernetes.io/`-prefixed native resources).
pub fn is_scalar_resource_name(name: &str) -> bool {
    is_extended_resource_name(name)
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || name.contains("kubernetes.io/")
}

/// Whether a resource name is an extended resource (a domain-prefixed name outside
/// `kubernetes.io/`), as upstream's `IsExtendedResourceName`.
pub fn is_extended_resource_name(name: &str) -> bool {
    if !name.contains('/') || name.contains("kubernetes.io/") || name.starts_with("requests.") {
        return false;
    }
    crate::framework::labels::is_qualified_name(&format!("requests.{name}"))
}

/// Resource amounts in the units the scheduler compares: millicores for CPU, bytes for memory
/// and ephemeral storage, a count of pods, and whole units for scalar resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Number of pods (only meaningful for allocatable amounts).
    pub allowed_pod_number: i64,
    /// Extended, hugepages and other scalar resources by name.
    pub scalar: BTreeMap<String, i64>,
}

/// One resource a pod asks for more of than a node has left (upstream's `InsufficientResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientResource {
    /// The resource name (`cpu`, `memory`, `pods`, ...).
    pub resource: String,
    /// Upstream's reason text, e.g. `Insufficient cpu` or `Too many pods`.
    pub reason: String,
    /// What the pod asks for.
    pub requested: i64,
    /// What the node's pods already use.
    pub used: i64,
    /// The node's allocatable amount.
    pub capacity: i64,
}

impl Resources {
    /// Resources from a resource list (upstream's `Resource.Add`): unknown non-scalar names are
    /// ignored, as are quantities that do not parse.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resources {
        Resources::from_nanos(&nano_list(list))
    }

    /// Resources from an exact nano-unit list.
    pub fn from_nanos(list: &NanoList) -> Resources {
        let mut r = Resources::default();
        for (name, n) in list {
            match name.as_str() {
                "cpu" => r.milli_cpu = r.milli_cpu.saturating_add(nanos_to_milli(*n)),
                "memory" => r.memory = r.memory.saturating_add(nanos_to_value(*n)),
                "ephemeral-storage" => {
                    r.ephemeral_storage = r.ephemeral_storage.saturating_add(nanos_to_value(*n))
                }
                "pods" => {
                    r.allowed_pod_number = r.allowed_pod_number.saturating_add(nanos_to_value(*n))
                }
                other if is_scalar_resource_name(other) => {
                    let e = r.scalar.entry(other.to_string()).or_insert(0);
                    *e = e.saturating_add(nanos_to_value(*n));
                }
                _ => {}
            }
        }
        r
    }

    /// Adds `other` to `self` (saturating).
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_add(other.allowed_pod_number);
        for (name, v) in &other.scalar {
            let e = self.scalar.entry(name.clone()).or_insert(0);
            *e = e.saturating_add(*v);
        }
    }

    /// Subtracts `other` from `self` (saturating); scalar entries that reach zero are kept.
    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_sub(other.allowed_pod_number);
        for (name, v) in &other.scalar {
            let e = self.scalar.entry(name.clone()).or_insert(0);
            *e = e.saturating_sub(*v);
        }
    }

    /// Whether nothing at all is requested (cpu, memory, ephemeral storage and scalars).
    pub fn is_empty_request(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.is_empty()
    }

    /// What of `self` (a pod's requests) does not fit on a node with `allocatable` whose pods
    /// already use `used` and number `pod_count` (upstream's `fitsRequest`, in its order).
    pub fn insufficient(
        &self,
        used: &Resources,
        allocatable: &Resources,
        pod_count: usize,
    ) -> Vec<InsufficientResource> {
        let mut out = Vec::new();
        let pods = i64::try_from(pod_count).unwrap_or(i64::MAX);
        if pods.saturating_add(1) > allocatable.allowed_pod_number {
            out.push(InsufficientResource {
                resource: "pods".into(),
                reason: "Too many pods".into(),
                requested: 1,
                used: pods,
                capacity: allocatable.allowed_pod_number,
            });
        }
        if self.is_empty_request() {
            return out;
        }
        let mut check = |name: &str, want: i64, used: i64, cap: i64| {
            if want > 0 && want > cap.saturating_sub(used) {
                out.push(InsufficientResource {
                    resource: name.to_string(),
                    reason: format!("Insufficient {name}"),
                    requested: want,
                    used,
                    capacity: cap,
                });
            }
        };
        check("cpu", self.milli_cpu, used.milli_cpu, allocatable.milli_cpu);
        check("memory", self.memory, used.memory, allocatable.memory);
        check(
            "ephemeral-storage",
            self.ephemeral_storage,
            used.ephemeral_storage,
            allocatable.ephemeral_storage,
        );
        for (name, want) in &self.scalar {
            let u = used.scalar.get(name).copied().unwrap_or(0);
            let c = allocatable.scalar.get(name).copied().unwrap_or(0);
            check(name, *want, u, c);
        }
        out
    }

    /// Whether `self` fits on a node with `allocatable` whose pods already use `used`.
    pub fn fits(&self, used: &Resources, allocatable: &Resources, pod_count: usize) -> bool {
        self.insufficient(used, allocatable, pod_count).is_empty()
    }
}

fn container_requests(c: &Container) -> NanoList {
    c.resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .map(nano_list)
        .unwrap_or_default()
}

fn apply_non_missing(requests: NanoList, non_missing: Option<&NanoList>) -> NanoList {
    let mut out = requests;
    if let Some(defaults) = non_missing {
        for (name, n) in defaults {
            out.entry(name.clone()).or_insert(*n);
        }
    }
    out
}

fn is_restartable(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Resources that may be set at pod level (`spec.resources`).
fn is_supported_pod_level_resource(name: &str) -> bool {
    name == "cpu" || name == "memory"
}

fn pod_level_requests_set(pod: &Pod) -> bool {
    let Some(r) = pod.spec.as_ref().and_then(|s| s.resources.as_ref()) else {
        return false;
    };
    r.requests.as_ref().is_some_and(|m| !m.is_empty())
        || r.limits
            .as_ref()
            .is_some_and(|m| m.keys().any(|k| is_supported_pod_level_resource(k)))
}

/// Upstream's `PodRequests`: the sum of the regular containers, raised to the largest init
/// container phase (each non-restartable init container plus the restartable ones started
/// before it; restartable "sidecar" init containers also add to the running total), pod-level
/// requests when set, plus `spec.overhead`. `non_missing` fills in requests a container leaves
/// out (used for the non-zero variant).
pub fn pod_request_list(pod: &Pod, non_missing: Option<&NanoList>) -> NanoList {
    let Some(spec) = pod.spec.as_ref() else {
        return NanoList::new();
    };
    let mut reqs = NanoList::new();
    for c in &spec.containers {
        add_list(
            &mut reqs,
            &apply_non_missing(container_requests(c), non_missing),
        );
    }
    let mut restartable = NanoList::new();
    let mut init_max = NanoList::new();
    for c in spec.init_containers.iter().flatten() {
        let c_reqs = apply_non_missing(container_requests(c), non_missing);
        let phase = if is_restartable(c) {
            add_list(&mut reqs, &c_reqs);
            add_list(&mut restartable, &c_reqs);
            restartable.clone()
        } else {
            let mut tmp = c_reqs;
            add_list(&mut tmp, &restartable);
            tmp
        };
        max_list(&mut init_max, &phase);
    }
    max_list(&mut reqs, &init_max);
    if pod_level_requests_set(pod)
        && let Some(pod_reqs) = spec.resources.as_ref().and_then(|r| r.requests.as_ref())
    {
        for (name, n) in nano_list(pod_reqs) {
            if is_supported_pod_level_resource(&name) {
                reqs.insert(name, n);
            }
        }
    }
    if let Some(overhead) = spec.overhead.as_ref() {
        add_list(&mut reqs, &nano_list(overhead));
    }
    reqs
}

/// A pod's effective requests (upstream's `PodRequests`), as [`Resources`].
pub fn pod_requests(pod: &Pod) -> Resources {
    Resources::from_nanos(&pod_request_list(pod, None))
}

/// The requests scoring uses: like [`pod_requests`], but a container that requests no CPU or
/// memory counts as requesting 100m CPU / 200Mi memory (when pod-level requests are set, only
/// resources missing at pod level get the defaults). Only `milli_cpu` and `memory` are set.
pub fn non_zero_requests(pod: &Pod) -> Resources {
    let mut defaults = NanoList::new();
    let cpu = i128::from(DEFAULT_MILLI_CPU_REQUEST) * 1_000_000;
    let mem = i128::from(DEFAULT_MEMORY_REQUEST) * NANOS_PER_UNIT;
    if pod_level_requests_set(pod) {
        let reqs = pod_request_list(pod, None);
        if !reqs.contains_key("cpu") {
            defaults.insert("cpu".into(), cpu);
        }
        if !reqs.contains_key("memory") {
            defaults.insert("memory".into(), mem);
        }
    } else {
        defaults.insert("cpu".into(), cpu);
        defaults.insert("memory".into(), mem);
    }
    let list = pod_request_list(pod, Some(&defaults));
    Resources {
        milli_cpu: list.get("cpu").copied().map(nanos_to_milli).unwrap_or(0),
        memory: list.get("memory").copied().map(nanos_to_value).unwrap_or(0),
        ..Resources::default()
    }
}

/// A node's allocatable resources: `status.allocatable`, or `status.capacity` when allocatable
/// is absent (the API server defaults allocatable to capacity).
pub fn node_allocatable(node: &Node) -> Resources {
    let Some(status) = node.status.as_ref() else {
        return Resources::default();
    };
    match status.allocatable.as_ref().or(status.capacity.as_ref()) {
        Some(list) => Resources::from_list(list),
        None => Resources::default(),
    }
}
