//! Embeds the default suite (`checks/*.yaml`) and the bundled sample pipelines
//! (`checks/pipelines/*.yaml`) and Workflows (`checks/workflows/*.yaml`) into the binary, so `kfcheck all` works anywhere.

use std::fmt::Write as _;
use std::path::Path;

fn list(dir: &Path, prefix: &str, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if f.is_file() && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            let abs = std::fs::canonicalize(&f).unwrap();
            writeln!(
                out,
                "    (\"{prefix}{name}\", include_str!({:?})),",
                abs.display().to_string()
            )
            .unwrap();
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=checks");
    println!("cargo:rerun-if-changed=checks/pipelines");
    println!("cargo:rerun-if-changed=checks/workflows");
    let mut out = String::from("/// (path relative to the repository root, contents)\npub static EMBEDDED: &[(&str, &str)] = &[\n");
    list(&root.join("checks"), "checks/", &mut out);
    list(
        &root.join("checks/pipelines"),
        "checks/pipelines/",
        &mut out,
    );
    // The raw-YAML door's own sample Workflows.
    list(
        &root.join("checks/workflows"),
        "checks/workflows/",
        &mut out,
    );
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(dest, out).unwrap();
}
