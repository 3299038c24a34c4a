//! Compiles the Kubernetes `generated.proto` files under `proto/` into one encoded
//! `FileDescriptorSet` (`$OUT_DIR/k8s.bin`), which the crate embeds and loads at run time.

use std::path::{Path, PathBuf};

use prost::Message;

/// Every `generated.proto` under `dir`, as paths relative to `root` (sorted, for a stable output).
fn protos(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            protos(root, &path, found)?;
        } else if path.file_name().is_some_and(|n| n == "generated.proto")
            && let Ok(relative) = path.strip_prefix(root)
        {
            found.push(relative.to_owned());
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("proto");
    let mut files = Vec::new();
    protos(&root, &root, &mut files)?;
    files.sort();
    let set = protox::Compiler::new([&root])?
        .include_imports(true)
        // Comments are not needed for decoding and would add megabytes to the binary.
        .include_source_info(false)
        .open_files(&files)?
        .file_descriptor_set();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("k8s.bin"), set.encode_to_vec())?;
    // The documentation comments, compactly, for OpenAPI descriptions (`kubectl explain`).
    let documented = protox::Compiler::new([&root])?
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?
        .file_descriptor_set();
    let mut table = String::new();
    for file in &documented.file {
        let package = file.package.clone().unwrap_or_default();
        let Some(info) = &file.source_code_info else {
            continue;
        };
        for location in &info.location {
            let Some(comment) = location.leading_comments.as_deref() else {
                continue;
            };
            let path = &location.path;
            if path.len() < 2 || path[0] != 4 {
                continue;
            }
            let Some(mut message) = usize::try_from(path[1])
                .ok()
                .and_then(|i| file.message_type.get(i))
            else {
                continue;
            };
            let mut name = format!("{package}.{}", message.name.as_deref().unwrap_or(""));
            let mut field = String::new();
            let mut rest = &path[2..];
            while let [kind, index, tail @ ..] = rest {
                let Ok(index) = usize::try_from(*index) else {
                    break;
                };
                match kind {
                    3 => match message.nested_type.get(index) {
                        Some(nested) => {
                            message = nested;
                            name = format!("{name}.{}", nested.name.as_deref().unwrap_or(""));
                        }
                        None => break,
                    },
                    2 if tail.is_empty() => {
                        if let Some(f) = message.field.get(index) {
                            field = f.name.clone().unwrap_or_default();
                        }
                    }
                    _ => break,
                }
                rest = tail;
            }
            if !rest.is_empty() {
                continue;
            }
            let text: Vec<&str> = comment
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('+'))
                .collect();
            let text = text.join("\n").trim().replace('\t', " ");
            if !text.is_empty() {
                table.push_str(&format!("{name}\t{field}\t{text}\n"));
            }
        }
    }
    std::fs::write(out.join("descriptions.tsv"), table)?;
    Ok(())
}
