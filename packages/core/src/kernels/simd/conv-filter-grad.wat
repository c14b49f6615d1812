;; The filter gradient of a stride-1 NHWC convolution, dW[ky,kx,ci,co] += Σ x[n, y+ky−pt, x+kx−pl, ci] ·
;; dy[n, y, x, co], as WebAssembly SIMD on tfjs-backend-wasm's heap (the memory is imported).
;; `filterGrad` walks batch items [n0, n1), tiles of output rows, filter taps and channel blocks; for each,
;; `block2` (or `block1`) accumulates 2 (or 1) input channels × 16 output channels over a rectangle of
;; output pixels with all 8 (or 4) accumulators in registers, so a tile's data stays in cache while every
;; tap and channel block is accumulated from it. Pointers are byte offsets: for a block, x at the input
;; pixel that the rectangle's first output pixel reads through the tap, dy at that output pixel, acc at
;; dW[ky, kx, ci, co0]. Strides are in bytes. Co must be a multiple of 16.
;;
;; scripts/build-wasm-kernels.mjs compiles this file (with the memory line below made `shared` or not)
;; into kernels/simd/wasm-binaries.generated.ts.
(module
  (import "env" "memory" (memory 1 65536 @SHARED@))


  (func (export "filterGrad")
    (param $x i32) (param $dy i32) (param $dw i32) (param $n0 i32) (param $n1 i32)
    (param $H i32) (param $W i32) (param $Ci i32) (param $OH i32) (param $OW i32) (param $Co i32)
    (param $KH i32) (param $KW i32) (param $pt i32) (param $pl i32) (param $tileRows i32)
    (local $n i32) (local $y0 i32) (local $y1 i32) (local $ky i32) (local $kx i32) (local $ya i32)
    (local $yb i32) (local $xa i32) (local $xb i32) (local $ci i32) (local $co i32)
    (local $xPix i32) (local $dyPix i32) (local $xRow i32) (local $dyRow i32)
    (local $xBase i32) (local $dyBase i32) (local $accBase i32) (local $rows i32) (local $cols i32)
    (local.set $xPix (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $dyPix (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $xRow (i32.mul (local.get $W) (local.get $xPix)))
    (local.set $dyRow (i32.mul (local.get $OW) (local.get $dyPix)))
    (local.set $n (local.get $n0))
    (block $batchDone (loop $batch
      (br_if $batchDone (i32.ge_u (local.get $n) (local.get $n1)))
      (local.set $y0 (i32.const 0))
      (block $tilesDone (loop $tiles
        (br_if $tilesDone (i32.ge_u (local.get $y0) (local.get $OH)))
        (local.set $y1 (call $min (i32.add (local.get $y0) (local.get $tileRows)) (local.get $OH)))
        (local.set $ky (i32.const 0))
        (block $kyDone (loop $kys
          (br_if $kyDone (i32.ge_u (local.get $ky) (local.get $KH)))
          ;; output rows whose input row y + ky − pt lies inside the image
          (local.set $ya (call $max (local.get $y0) (i32.sub (local.get $pt) (local.get $ky))))
          (local.set $yb (call $min (local.get $y1)
            (i32.sub (i32.add (local.get $H) (local.get $pt)) (local.get $ky))))
          (local.set $kx (i32.const 0))
          (block $kxDone (loop $kxs
            (br_if $kxDone (i32.ge_s (local.get $ya) (local.get $yb)))
            (br_if $kxDone (i32.ge_u (local.get $kx) (local.get $KW)))
            (local.set $xa (call $max (i32.const 0) (i32.sub (local.get $pl) (local.get $kx))))
            (local.set $xb (call $min (local.get $OW)
              (i32.sub (i32.add (local.get $W) (local.get $pl)) (local.get $kx))))
            (if (i32.lt_s (local.get $xa) (local.get $xb)) (then
              (local.set $rows (i32.sub (local.get $yb) (local.get $ya)))
              (local.set $cols (i32.sub (local.get $xb) (local.get $xa)))
              ;; x + ((n·H + ya + ky − pt)·W + xa + kx − pl)·xPix
              (local.set $xBase (i32.add (local.get $x) (i32.mul (local.get $xPix)
                (i32.add
                  (i32.mul (local.get $W) (i32.sub (i32.add (i32.add (i32.mul (local.get $n) (local.get $H))
                    (local.get $ya)) (local.get $ky)) (local.get $pt)))
                  (i32.sub (i32.add (local.get $xa) (local.get $kx)) (local.get $pl))))))
              ;; dy + ((n·OH + ya)·OW + xa)·dyPix
              (local.set $dyBase (i32.add (local.get $dy) (i32.mul (local.get $dyPix)
                (i32.add (i32.mul (local.get $OW) (i32.add (i32.mul (local.get $n) (local.get $OH)) (local.get $ya)))
                  (local.get $xa)))))
              ;; dw + (ky·KW + kx)·Ci·dyPix
              (local.set $accBase (i32.add (local.get $dw) (i32.mul (i32.mul (local.get $Ci) (local.get $dyPix))
                (i32.add (i32.mul (local.get $ky) (local.get $KW)) (local.get $kx)))))
              (local.set $co (i32.const 0))
              (block $coDone (loop $cos
                (br_if $coDone (i32.ge_u (local.get $co) (local.get $Co)))
                (local.set $ci (i32.const 0))
                (block $ciDone (loop $cis
                  (br_if $ciDone (i32.ge_u (i32.add (local.get $ci) (i32.const 1)) (local.get $Ci)))
                  (call $block2
                    (i32.add (local.get $xBase) (i32.shl (local.get $ci) (i32.const 2)))
                    (i32.add (local.get $dyBase) (i32.shl (local.get $co) (i32.const 2)))
                    (i32.add (local.get $accBase)
                      (i32.shl (i32.add (i32.mul (local.get $ci) (local.get $Co)) (local.get $co)) (i32.const 2)))
                    (local.get $rows) (local.get $cols) (local.get $xRow) (local.get $dyRow)
                    (local.get $xPix) (local.get $dyPix) (local.get $dyPix))
                  (local.set $ci (i32.add (local.get $ci) (i32.const 2)))
                  (br $cis)))
                (if (i32.lt_u (local.get $ci) (local.get $Ci)) (then
                  (call $block1
                    (i32.add (local.get $xBase) (i32.shl (local.get $ci) (i32.const 2)))
                    (i32.add (local.get $dyBase) (i32.shl (local.get $co) (i32.const 2)))
                    (i32.add (local.get $accBase)
                      (i32.shl (i32.add (i32.mul (local.get $ci) (local.get $Co)) (local.get $co)) (i32.const 2)))
                    (local.get $rows) (local.get $cols) (local.get $xRow) (local.get $dyRow)
                    (local.get $xPix) (local.get $dyPix))))
                (local.set $co (i32.add (local.get $co) (i32.const 16)))
                (br $cos)))))
            (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
            (br $kxs)))
          (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
          (br $kys)))
        (local.set $y0 (local.get $y1))
        (br $tiles)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $batch))))

  (func $min (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.lt_s (local.get $a) (local.get $b))))
  (func $max (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.gt_s (local.get $a) (local.get $b))))

  (func $block2 (export "block2")
    (param $x i32) (param $dy i32) (param $acc i32) (param $rows i32) (param $cols i32)
    (param $xRow i32) (param $dyRow i32) (param $xPix i32) (param $dyPix i32) (param $accRow i32)
    (local $px i32) (local $pd i32) (local $end i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $s0 v128) (local $s1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $a0 (v128.load (local.get $acc)))
    (local.set $a1 (v128.load offset=16 (local.get $acc)))
    (local.set $a2 (v128.load offset=32 (local.get $acc)))
    (local.set $a3 (v128.load offset=48 (local.get $acc)))
    (local.set $b0 (v128.load (i32.add (local.get $acc) (local.get $accRow))))
    (local.set $b1 (v128.load offset=16 (i32.add (local.get $acc) (local.get $accRow))))
    (local.set $b2 (v128.load offset=32 (i32.add (local.get $acc) (local.get $accRow))))
    (local.set $b3 (v128.load offset=48 (i32.add (local.get $acc) (local.get $accRow))))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $px (local.get $x))
        (local.set $pd (local.get $dy))
        (local.set $end (i32.add (local.get $dy) (i32.mul (local.get $cols) (local.get $dyPix))))
        (block $pixDone
          (loop $pix
            (br_if $pixDone (i32.ge_u (local.get $pd) (local.get $end)))
            (local.set $d0 (v128.load (local.get $pd)))
            (local.set $d1 (v128.load offset=16 (local.get $pd)))
            (local.set $d2 (v128.load offset=32 (local.get $pd)))
            (local.set $d3 (v128.load offset=48 (local.get $pd)))
            (local.set $s0 (v128.load32_splat (local.get $px)))
            (local.set $s1 (v128.load32_splat offset=4 (local.get $px)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s0) (local.get $d0))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s0) (local.get $d1))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s0) (local.get $d2))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s0) (local.get $d3))))
            (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $s1) (local.get $d0))))
            (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $s1) (local.get $d1))))
            (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $s1) (local.get $d2))))
            (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $s1) (local.get $d3))))
            (local.set $px (i32.add (local.get $px) (local.get $xPix)))
            (local.set $pd (i32.add (local.get $pd) (local.get $dyPix)))
            (br $pix)))
        (local.set $x (i32.add (local.get $x) (local.get $xRow)))
        (local.set $dy (i32.add (local.get $dy) (local.get $dyRow)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row)))
    (v128.store (local.get $acc) (local.get $a0))
    (v128.store offset=16 (local.get $acc) (local.get $a1))
    (v128.store offset=32 (local.get $acc) (local.get $a2))
    (v128.store offset=48 (local.get $acc) (local.get $a3))
    (v128.store (i32.add (local.get $acc) (local.get $accRow)) (local.get $b0))
    (v128.store offset=16 (i32.add (local.get $acc) (local.get $accRow)) (local.get $b1))
    (v128.store offset=32 (i32.add (local.get $acc) (local.get $accRow)) (local.get $b2))
    (v128.store offset=48 (i32.add (local.get $acc) (local.get $accRow)) (local.get $b3)))

  (func $block1 (export "block1")
    (param $x i32) (param $dy i32) (param $acc i32) (param $rows i32) (param $cols i32)
    (param $xRow i32) (param $dyRow i32) (param $xPix i32) (param $dyPix i32)
    (local $px i32) (local $pd i32) (local $end i32) (local $s0 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $a0 (v128.load (local.get $acc)))
    (local.set $a1 (v128.load offset=16 (local.get $acc)))
    (local.set $a2 (v128.load offset=32 (local.get $acc)))
    (local.set $a3 (v128.load offset=48 (local.get $acc)))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $px (local.get $x))
        (local.set $pd (local.get $dy))
        (local.set $end (i32.add (local.get $dy) (i32.mul (local.get $cols) (local.get $dyPix))))
        (block $pixDone
          (loop $pix
            (br_if $pixDone (i32.ge_u (local.get $pd) (local.get $end)))
            (local.set $s0 (v128.load32_splat (local.get $px)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s0) (v128.load (local.get $pd)))))
            (local.set $a1 (f32x4.add (local.get $a1)
              (f32x4.mul (local.get $s0) (v128.load offset=16 (local.get $pd)))))
            (local.set $a2 (f32x4.add (local.get $a2)
              (f32x4.mul (local.get $s0) (v128.load offset=32 (local.get $pd)))))
            (local.set $a3 (f32x4.add (local.get $a3)
              (f32x4.mul (local.get $s0) (v128.load offset=48 (local.get $pd)))))
            (local.set $px (i32.add (local.get $px) (local.get $xPix)))
            (local.set $pd (i32.add (local.get $pd) (local.get $dyPix)))
            (br $pix)))
        (local.set $x (i32.add (local.get $x) (local.get $xRow)))
        (local.set $dy (i32.add (local.get $dy) (local.get $dyRow)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row)))
    (v128.store (local.get $acc) (local.get $a0))
    (v128.store offset=16 (local.get $acc) (local.get $a1))
    (v128.store offset=32 (local.get $acc) (local.get $a2))
    (v128.store offset=48 (local.get $acc) (local.get $a3)))
)
