;; Stride-1 NHWC convolution y[n,oy,ox,co] = Σ x[n, oy+ky−pt, ox+kx−pl, ci] · w[ky,kx,ci,co] as WebAssembly
;; SIMD on tfjs-backend-wasm's heap (the memory is imported). Along one filter row the (kx, ci) taps are
;; contiguous in both x (pixel-major NHWC) and w ([kh, kw, ci, co]), so each filter row is one dot loop.
;; `dot2` computes 2 neighbouring output pixels × 16 output channels with 8 accumulators in registers
;; (interior pixels); `dot1` one pixel × 16 channels (image edges, where the tap range is clipped).
;; `conv` walks batch items [n0, n1), output rows, channel blocks and pixels. Co must be a multiple of 16.
;; (With the `winograd` switch on, 3×3 padding-1 convolutions go to winograd.wat instead.)
;; Pointers are byte offsets.
;;
;; scripts/build-wasm-kernels.mjs compiles this file (with the memory line below made `shared` or not)
;; into kernels/simd/wasm-binaries.generated.ts.
(module
  (import "env" "memory" (memory 1 65536 @SHARED@))

  (func $min (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.lt_s (local.get $a) (local.get $b))))
  (func $max (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.gt_s (local.get $a) (local.get $b))))

  ;; y[0..16) and y[pix..pix+16) (two pixels) = Σ over `rows` filter rows of Σ_t x[t]·w[t·coStride + 0..16)
  (func $dot2
    (param $x i32) (param $w i32) (param $y i32) (param $rows i32) (param $xRow i32) (param $wRow i32)
    (param $len i32) (param $pix i32) (param $coStride i32)
    (local $px i32) (local $pw i32) (local $end i32)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128) (local $s0 v128) (local $s1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.le_s (local.get $rows) (i32.const 0)))
        (local.set $px (local.get $x))
        (local.set $pw (local.get $w))
        (local.set $end (i32.add (local.get $x) (i32.shl (local.get $len) (i32.const 2))))
        (block $tapsDone
          (loop $tap
            (br_if $tapsDone (i32.ge_u (local.get $px) (local.get $end)))
            (local.set $w0 (v128.load (local.get $pw)))
            (local.set $w1 (v128.load offset=16 (local.get $pw)))
            (local.set $w2 (v128.load offset=32 (local.get $pw)))
            (local.set $w3 (v128.load offset=48 (local.get $pw)))
            (local.set $s0 (v128.load32_splat (local.get $px)))
            (local.set $s1 (v128.load32_splat (i32.add (local.get $px) (local.get $pix))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s0) (local.get $w0))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s0) (local.get $w1))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s0) (local.get $w2))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s0) (local.get $w3))))
            (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $s1) (local.get $w0))))
            (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $s1) (local.get $w1))))
            (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $s1) (local.get $w2))))
            (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $s1) (local.get $w3))))
            (local.set $px (i32.add (local.get $px) (i32.const 4)))
            (local.set $pw (i32.add (local.get $pw) (local.get $coStride)))
            (br $tap)))
        (local.set $x (i32.add (local.get $x) (local.get $xRow)))
        (local.set $w (i32.add (local.get $w) (local.get $wRow)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row)))
    (v128.store (local.get $y) (local.get $a0))
    (v128.store offset=16 (local.get $y) (local.get $a1))
    (v128.store offset=32 (local.get $y) (local.get $a2))
    (v128.store offset=48 (local.get $y) (local.get $a3))
    (local.set $y (i32.add (local.get $y) (local.get $coStride)))
    (v128.store (local.get $y) (local.get $b0))
    (v128.store offset=16 (local.get $y) (local.get $b1))
    (v128.store offset=32 (local.get $y) (local.get $b2))
    (v128.store offset=48 (local.get $y) (local.get $b3)))

  ;; y[0..16) = Σ over `rows` filter rows of Σ_t x[t]·w[t·coStride + 0..16)
  (func $dot1
    (param $x i32) (param $w i32) (param $y i32) (param $rows i32) (param $xRow i32) (param $wRow i32)
    (param $len i32) (param $coStride i32)
    (local $px i32) (local $pw i32) (local $end i32) (local $s0 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.le_s (local.get $rows) (i32.const 0)))
        (local.set $px (local.get $x))
        (local.set $pw (local.get $w))
        (local.set $end (i32.add (local.get $x) (i32.shl (local.get $len) (i32.const 2))))
        (block $tapsDone
          (loop $tap
            (br_if $tapsDone (i32.ge_u (local.get $px) (local.get $end)))
            (local.set $s0 (v128.load32_splat (local.get $px)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s0) (v128.load (local.get $pw)))))
            (local.set $a1 (f32x4.add (local.get $a1)
              (f32x4.mul (local.get $s0) (v128.load offset=16 (local.get $pw)))))
            (local.set $a2 (f32x4.add (local.get $a2)
              (f32x4.mul (local.get $s0) (v128.load offset=32 (local.get $pw)))))
            (local.set $a3 (f32x4.add (local.get $a3)
              (f32x4.mul (local.get $s0) (v128.load offset=48 (local.get $pw)))))
            (local.set $px (i32.add (local.get $px) (i32.const 4)))
            (local.set $pw (i32.add (local.get $pw) (local.get $coStride)))
            (br $tap)))
        (local.set $x (i32.add (local.get $x) (local.get $xRow)))
        (local.set $w (i32.add (local.get $w) (local.get $wRow)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row)))
    (v128.store (local.get $y) (local.get $a0))
    (v128.store offset=16 (local.get $y) (local.get $a1))
    (v128.store offset=32 (local.get $y) (local.get $a2))
    (v128.store offset=48 (local.get $y) (local.get $a3)))

  (func (export "conv")
    (param $x i32) (param $w i32) (param $y i32) (param $n0 i32) (param $n1 i32)
    (param $H i32) (param $W i32) (param $Ci i32) (param $OH i32) (param $OW i32) (param $Co i32)
    (param $KH i32) (param $KW i32) (param $pt i32) (param $pl i32)
    (local $n i32) (local $oy i32) (local $ox i32) (local $co i32) (local $kyA i32) (local $kyB i32)
    (local $kxA i32) (local $kxB i32) (local $xPix i32) (local $coStride i32) (local $xRow i32)
    (local $wRow i32) (local $wTap i32) (local $xBase i32) (local $wBase i32) (local $yRow i32)
    (local $len i32)
    (local.set $xPix (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $coStride (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $xRow (i32.mul (local.get $W) (local.get $xPix)))
    (local.set $wTap (i32.mul (local.get $Ci) (local.get $coStride)))
    (local.set $wRow (i32.mul (local.get $KW) (local.get $wTap)))
    (local.set $n (local.get $n0))
    (block $batchDone (loop $batch
      (br_if $batchDone (i32.ge_u (local.get $n) (local.get $n1)))
      (local.set $oy (i32.const 0))
      (block $rowsDone (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $oy) (local.get $OH)))
        ;; filter rows whose input row oy + ky − pt lies inside the image
        (local.set $kyA (call $max (i32.const 0) (i32.sub (local.get $pt) (local.get $oy))))
        (local.set $kyB (call $min (local.get $KH)
          (i32.sub (i32.add (local.get $H) (local.get $pt)) (local.get $oy))))
        ;; x + (n·H + oy + kyA − pt)·xRow: input row of filter row kyA, column 0
        (local.set $xBase (i32.add (local.get $x) (i32.mul (local.get $xRow)
          (i32.sub (i32.add (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $oy)) (local.get $kyA))
            (local.get $pt)))))
        (local.set $wBase (i32.add (local.get $w) (i32.mul (local.get $kyA) (local.get $wRow))))
        ;; y + (n·OH + oy)·OW·coStride
        (local.set $yRow (i32.add (local.get $y) (i32.mul (i32.mul (local.get $OW) (local.get $coStride))
          (i32.add (i32.mul (local.get $n) (local.get $OH)) (local.get $oy)))))
        (local.set $co (i32.const 0))
        (block $coDone (loop $coLoop
          (br_if $coDone (i32.ge_u (local.get $co) (local.get $Co)))
          (local.set $ox (i32.const 0))
          (block $pixDone (loop $pixLoop
            (br_if $pixDone (i32.ge_u (local.get $ox) (local.get $OW)))
            (local.set $kxA (call $max (i32.const 0) (i32.sub (local.get $pl) (local.get $ox))))
            (local.set $kxB (call $min (local.get $KW)
              (i32.sub (i32.add (local.get $W) (local.get $pl)) (local.get $ox))))
            (if
              (i32.and
                (i32.and (i32.eqz (local.get $kxA)) (i32.lt_u (i32.add (local.get $ox) (i32.const 1)) (local.get $OW)))
                ;; the next pixel's taps are all inside too: (ox + 1) + KW − pl ≤ W
                (i32.le_s (i32.sub (i32.add (i32.add (local.get $ox) (i32.const 1)) (local.get $KW)) (local.get $pl))
                  (local.get $W)))
              (then
                (call $dot2
                  (i32.add (local.get $xBase) (i32.mul (i32.sub (local.get $ox) (local.get $pl)) (local.get $xPix)))
                  (i32.add (local.get $wBase) (i32.shl (local.get $co) (i32.const 2)))
                  (i32.add (local.get $yRow)
                    (i32.add (i32.mul (local.get $ox) (local.get $coStride)) (i32.shl (local.get $co) (i32.const 2))))
                  (i32.sub (local.get $kyB) (local.get $kyA)) (local.get $xRow) (local.get $wRow)
                  (i32.mul (local.get $KW) (local.get $Ci)) (local.get $xPix) (local.get $coStride))
                (local.set $ox (i32.add (local.get $ox) (i32.const 2))))
              (else
                (local.set $len (call $max (i32.const 0)
                  (i32.mul (i32.sub (local.get $kxB) (local.get $kxA)) (local.get $Ci))))
                (call $dot1
                  (i32.add (local.get $xBase) (i32.mul
                    (i32.sub (i32.add (local.get $ox) (local.get $kxA)) (local.get $pl)) (local.get $xPix)))
                  (i32.add (local.get $wBase)
                    (i32.add (i32.mul (local.get $kxA) (local.get $wTap)) (i32.shl (local.get $co) (i32.const 2))))
                  (i32.add (local.get $yRow)
                    (i32.add (i32.mul (local.get $ox) (local.get $coStride)) (i32.shl (local.get $co) (i32.const 2))))
                  (i32.sub (local.get $kyB) (local.get $kyA)) (local.get $xRow) (local.get $wRow)
                  (local.get $len) (local.get $coStride))
                (local.set $ox (i32.add (local.get $ox) (i32.const 1)))))
            (br $pixLoop)))
          (local.set $co (i32.add (local.get $co) (i32.const 16)))
          (br $coLoop)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $rowLoop)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $batch))))
)
