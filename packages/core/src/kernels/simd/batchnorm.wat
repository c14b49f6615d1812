;; Training-mode batch norm (optionally fused with the ReLU after it) over NHWC float32 data, as
;; WebAssembly SIMD loops that run on tfjs-backend-wasm's own heap: the memory is imported, so tensors
;; are read and written in place. Every pointer is a byte offset into that memory; P is the number of
;; pixels (N·H·W), C the channel count (a multiple of 4). Per-channel sums are accumulated in float32
;; over tiles of 64 pixels and then in float64, so the statistics of large batches stay exact enough.
;;
;; scripts/build-wasm-kernels.mjs compiles this file (with the memory line below made `shared` or not)
;; into kernels/simd/wasm-binaries.generated.ts.
(module
  (import "env" "memory" (memory 1 65536 @SHARED@))

  ;; acc[a .. a+3] (float64) += v (float32x4)
  (func $accumulate (param $a i32) (param $v v128)
    (v128.store (local.get $a)
      (f64x2.add (v128.load (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
    (v128.store offset=16 (local.get $a)
      (f64x2.add (v128.load offset=16 (local.get $a))
        (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))))

  ;; dy where the (ReLU) output was positive, else 0; dy unchanged when relu is 0
  (func $gate (param $dy v128) (param $y v128) (param $relu i32) (result v128)
    (if (result v128) (local.get $relu)
      (then (v128.and (local.get $dy) (f32x4.gt (local.get $y) (v128.const f32x4 0 0 0 0))))
      (else (local.get $dy))))

  ;; acc[c] += Σ (x − shift[c]),  acc[C + c] += Σ (x − shift[c])²   (acc: 2C float64)
  (func (export "moments") (param $x i32) (param $P i32) (param $C i32) (param $shift i32) (param $acc i32)
    (local $p0 i32) (local $p1 i32) (local $c i32) (local $ptr i32) (local $end i32) (local $stride i32)
    (local $s v128) (local $s1 v128) (local $s2 v128) (local $v v128)
    (local.set $stride (i32.shl (local.get $C) (i32.const 2)))
    (block $tilesDone
      (loop $tiles
        (br_if $tilesDone (i32.ge_u (local.get $p0) (local.get $P)))
        (local.set $p1 (i32.add (local.get $p0) (i32.const 64)))
        (if (i32.gt_u (local.get $p1) (local.get $P)) (then (local.set $p1 (local.get $P))))
        (local.set $c (i32.const 0))
        (block $chansDone
          (loop $chans
            (br_if $chansDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $ptr (i32.add (local.get $x)
              (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $C)) (local.get $c)) (i32.const 2))))
            (local.set $end (i32.add (local.get $x)
              (i32.shl (i32.add (i32.mul (local.get $p1) (local.get $C)) (local.get $c)) (i32.const 2))))
            (local.set $s (v128.load (i32.add (local.get $shift) (i32.shl (local.get $c) (i32.const 2)))))
            (local.set $s1 (v128.const i32x4 0 0 0 0))
            (local.set $s2 (v128.const i32x4 0 0 0 0))
            (block $pixDone
              (loop $pix
                (br_if $pixDone (i32.ge_u (local.get $ptr) (local.get $end)))
                (local.set $v (f32x4.sub (v128.load (local.get $ptr)) (local.get $s)))
                (local.set $s1 (f32x4.add (local.get $s1) (local.get $v)))
                (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $v) (local.get $v))))
                (local.set $ptr (i32.add (local.get $ptr) (local.get $stride)))
                (br $pix)))
            (call $accumulate
              (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))) (local.get $s1))
            (call $accumulate
              (i32.add (local.get $acc) (i32.shl (i32.add (local.get $C) (local.get $c)) (i32.const 3)))
              (local.get $s2))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $chans)))
        (local.set $p0 (local.get $p1))
        (br $tiles))))

  ;; y = (x − mean[c])·scale[c] + beta[c], then max(0, ·) when relu is 1
  (func (export "normalize")
    (param $x i32) (param $y i32) (param $P i32) (param $C i32) (param $mean i32) (param $scale i32)
    (param $beta i32) (param $relu i32)
    (local $end i32) (local $c i32) (local $cBytes i32) (local $v v128)
    (local.set $cBytes (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.add (local.get $x) (i32.mul (local.get $P) (local.get $cBytes))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (f32x4.add
          (f32x4.mul
            (f32x4.sub (v128.load (local.get $x)) (v128.load (i32.add (local.get $mean) (local.get $c))))
            (v128.load (i32.add (local.get $scale) (local.get $c))))
          (v128.load (i32.add (local.get $beta) (local.get $c)))))
        (if (local.get $relu)
          (then (local.set $v (f32x4.max (local.get $v) (v128.const f32x4 0 0 0 0)))))
        (v128.store (local.get $y) (local.get $v))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (if (i32.ge_u (local.get $c) (local.get $cBytes)) (then (local.set $c (i32.const 0))))
        (br $each))))

  ;; With g = gate(dy, y): acc[c] += Σ g,  acc[C + c] += Σ g·(x − mean[c])   (acc: 2C float64)
  (func (export "gradSums")
    (param $dy i32) (param $y i32) (param $x i32) (param $P i32) (param $C i32) (param $mean i32)
    (param $acc i32) (param $relu i32)
    (local $p0 i32) (local $p1 i32) (local $c i32) (local $off i32) (local $end i32) (local $stride i32)
    (local $m v128) (local $s1 v128) (local $s2 v128) (local $g v128)
    (local.set $stride (i32.shl (local.get $C) (i32.const 2)))
    (block $tilesDone
      (loop $tiles
        (br_if $tilesDone (i32.ge_u (local.get $p0) (local.get $P)))
        (local.set $p1 (i32.add (local.get $p0) (i32.const 64)))
        (if (i32.gt_u (local.get $p1) (local.get $P)) (then (local.set $p1 (local.get $P))))
        (local.set $c (i32.const 0))
        (block $chansDone
          (loop $chans
            (br_if $chansDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $off
              (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $C)) (local.get $c)) (i32.const 2)))
            (local.set $end
              (i32.shl (i32.add (i32.mul (local.get $p1) (local.get $C)) (local.get $c)) (i32.const 2)))
            (local.set $m (v128.load (i32.add (local.get $mean) (i32.shl (local.get $c) (i32.const 2)))))
            (local.set $s1 (v128.const i32x4 0 0 0 0))
            (local.set $s2 (v128.const i32x4 0 0 0 0))
            (block $pixDone
              (loop $pix
                (br_if $pixDone (i32.ge_u (local.get $off) (local.get $end)))
                (local.set $g (call $gate
                  (v128.load (i32.add (local.get $dy) (local.get $off)))
                  (v128.load (i32.add (local.get $y) (local.get $off)))
                  (local.get $relu)))
                (local.set $s1 (f32x4.add (local.get $s1) (local.get $g)))
                (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $g)
                  (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (local.get $m)))))
                (local.set $off (i32.add (local.get $off) (local.get $stride)))
                (br $pix)))
            (call $accumulate
              (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))) (local.get $s1))
            (call $accumulate
              (i32.add (local.get $acc) (i32.shl (i32.add (local.get $C) (local.get $c)) (i32.const 3)))
              (local.get $s2))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $chans)))
        (local.set $p0 (local.get $p1))
        (br $tiles))))

  ;; dx = a[c]·gate(dy, y) + b[c]·(x − mean[c]) + k[c]
  (func (export "gradInput")
    (param $dy i32) (param $y i32) (param $x i32) (param $dx i32) (param $P i32) (param $C i32)
    (param $mean i32) (param $a i32) (param $b i32) (param $k i32) (param $relu i32)
    (local $off i32) (local $end i32) (local $c i32) (local $cBytes i32) (local $g v128)
    (local.set $cBytes (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.mul (local.get $P) (local.get $cBytes)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $off) (local.get $end)))
        (local.set $g (call $gate
          (v128.load (i32.add (local.get $dy) (local.get $off)))
          (v128.load (i32.add (local.get $y) (local.get $off)))
          (local.get $relu)))
        (v128.store (i32.add (local.get $dx) (local.get $off))
          (f32x4.add
            (f32x4.add
              (f32x4.mul (local.get $g) (v128.load (i32.add (local.get $a) (local.get $c))))
              (f32x4.mul
                (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off)))
                  (v128.load (i32.add (local.get $mean) (local.get $c))))
                (v128.load (i32.add (local.get $b) (local.get $c)))))
            (v128.load (i32.add (local.get $k) (local.get $c)))))
        (local.set $off (i32.add (local.get $off) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (if (i32.ge_u (local.get $c) (local.get $cBytes)) (then (local.set $c (i32.const 0))))
        (br $each))))
)
