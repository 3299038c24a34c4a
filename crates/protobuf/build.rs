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
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("k8s.bin");
    std::fs::write(out, set.encode_to_vec())?;
    Ok(())
}
