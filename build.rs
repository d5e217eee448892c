//! Embeds an rpath to libtorch's directory so `cargo run`/`cargo test` need no
//! LD_LIBRARY_PATH (tch's own rpath does not reach downstream binaries).

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&libtorch).join("lib");
        // Resolve the `.libtorch/torch` link so the binary does not depend on it.
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
