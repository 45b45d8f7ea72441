; kfcheck's GPU load kernels, in LLVM IR for the NVPTX back end. The probe ships the PTX that
; `scripts/gen-ptx` makes from this file (llc -march=nvptx64), and the driver JIT-compiles that
; PTX for whatever GPU it finds: no CUDA toolkit and no NVRTC at run time.
;
; kfcheck_fma(out, iters): every thread runs 16 independent fused-multiply-add chains, 8 FMAs
;   each per loop turn (128 FMAs, 256 FP32 operations per turn), from 16 different starting values
;   (identical chains could be merged by the JIT), and stores the chains' sum once
;   so that nothing can be optimised away. x*a+b with a < 1 converges: no overflow, no denormal.
; kfcheck_copy(dst, src, n): a grid-stride copy of n 16-byte vectors (one read, one write each).

target datalayout = "e-i64:64-i128:128-v16:16-v32:32-n16:32:64"
target triple = "nvptx64-nvidia-cuda"

declare i32 @llvm.nvvm.read.ptx.sreg.tid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.nctaid.x()
declare float @llvm.fma.f32(float, float, float)

define void @kfcheck_fma(float addrspace(1)* %out, i32 %iters) {
entry:
  %tid = call i32 @llvm.nvvm.read.ptx.sreg.tid.x()
  %bid = call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
  %bdim = call i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
  %base = mul i32 %bid, %bdim
  %idx = add i32 %base, %tid
  %f = uitofp i32 %idx to float
  %x0 = fmul float %f, 0x3EB0C6F7A0000000
  %c0 = fadd float %x0, 1.0
  %c1i = fadd float %c0, 0.125
  %c2i = fadd float %c0, 0.25
  %c3i = fadd float %c0, 0.375
  %c4i = fadd float %c0, 0.5
  %c5i = fadd float %c0, 0.625
  %c6i = fadd float %c0, 0.75
  %c7i = fadd float %c0, 0.875
  %c8i = fadd float %c0, 1.0
  %c9i = fadd float %c0, 1.125
  %c10i = fadd float %c0, 1.25
  %c11i = fadd float %c0, 1.375
  %c12i = fadd float %c0, 1.5
  %c13i = fadd float %c0, 1.625
  %c14i = fadd float %c0, 1.75
  %c15i = fadd float %c0, 1.875
  br label %loop

loop:
  %i = phi i32 [ 0, %entry ], [ %inext, %loop ]
  %a0 = phi float [ %c0, %entry ], [ %a0n, %loop ]
  %a1 = phi float [ %c1i, %entry ], [ %a1n, %loop ]
  %a2 = phi float [ %c2i, %entry ], [ %a2n, %loop ]
  %a3 = phi float [ %c3i, %entry ], [ %a3n, %loop ]
  %a4 = phi float [ %c4i, %entry ], [ %a4n, %loop ]
  %a5 = phi float [ %c5i, %entry ], [ %a5n, %loop ]
  %a6 = phi float [ %c6i, %entry ], [ %a6n, %loop ]
  %a7 = phi float [ %c7i, %entry ], [ %a7n, %loop ]
  %a8 = phi float [ %c8i, %entry ], [ %a8n, %loop ]
  %a9 = phi float [ %c9i, %entry ], [ %a9n, %loop ]
  %a10 = phi float [ %c10i, %entry ], [ %a10n, %loop ]
  %a11 = phi float [ %c11i, %entry ], [ %a11n, %loop ]
  %a12 = phi float [ %c12i, %entry ], [ %a12n, %loop ]
  %a13 = phi float [ %c13i, %entry ], [ %a13n, %loop ]
  %a14 = phi float [ %c14i, %entry ], [ %a14n, %loop ]
  %a15 = phi float [ %c15i, %entry ], [ %a15n, %loop ]
  %a0r0 = call float @llvm.fma.f32(float %a0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a1r0 = call float @llvm.fma.f32(float %a1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a2r0 = call float @llvm.fma.f32(float %a2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a3r0 = call float @llvm.fma.f32(float %a3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a4r0 = call float @llvm.fma.f32(float %a4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a5r0 = call float @llvm.fma.f32(float %a5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a6r0 = call float @llvm.fma.f32(float %a6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a7r0 = call float @llvm.fma.f32(float %a7, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a8r0 = call float @llvm.fma.f32(float %a8, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a9r0 = call float @llvm.fma.f32(float %a9, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a10r0 = call float @llvm.fma.f32(float %a10, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a11r0 = call float @llvm.fma.f32(float %a11, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a12r0 = call float @llvm.fma.f32(float %a12, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a13r0 = call float @llvm.fma.f32(float %a13, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a14r0 = call float @llvm.fma.f32(float %a14, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a15r0 = call float @llvm.fma.f32(float %a15, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a0r1 = call float @llvm.fma.f32(float %a0r0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a1r1 = call float @llvm.fma.f32(float %a1r0, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a2r1 = call float @llvm.fma.f32(float %a2r0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a3r1 = call float @llvm.fma.f32(float %a3r0, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a4r1 = call float @llvm.fma.f32(float %a4r0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a5r1 = call float @llvm.fma.f32(float %a5r0, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a6r1 = call float @llvm.fma.f32(float %a6r0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a7r1 = call float @llvm.fma.f32(float %a7r0, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a8r1 = call float @llvm.fma.f32(float %a8r0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a9r1 = call float @llvm.fma.f32(float %a9r0, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a10r1 = call float @llvm.fma.f32(float %a10r0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a11r1 = call float @llvm.fma.f32(float %a11r0, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a12r1 = call float @llvm.fma.f32(float %a12r0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a13r1 = call float @llvm.fma.f32(float %a13r0, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a14r1 = call float @llvm.fma.f32(float %a14r0, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a15r1 = call float @llvm.fma.f32(float %a15r0, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a0r2 = call float @llvm.fma.f32(float %a0r1, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a1r2 = call float @llvm.fma.f32(float %a1r1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a2r2 = call float @llvm.fma.f32(float %a2r1, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a3r2 = call float @llvm.fma.f32(float %a3r1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a4r2 = call float @llvm.fma.f32(float %a4r1, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a5r2 = call float @llvm.fma.f32(float %a5r1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a6r2 = call float @llvm.fma.f32(float %a6r1, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a7r2 = call float @llvm.fma.f32(float %a7r1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a8r2 = call float @llvm.fma.f32(float %a8r1, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a9r2 = call float @llvm.fma.f32(float %a9r1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a10r2 = call float @llvm.fma.f32(float %a10r1, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a11r2 = call float @llvm.fma.f32(float %a11r1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a12r2 = call float @llvm.fma.f32(float %a12r1, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a13r2 = call float @llvm.fma.f32(float %a13r1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a14r2 = call float @llvm.fma.f32(float %a14r1, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a15r2 = call float @llvm.fma.f32(float %a15r1, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a0r3 = call float @llvm.fma.f32(float %a0r2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a1r3 = call float @llvm.fma.f32(float %a1r2, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a2r3 = call float @llvm.fma.f32(float %a2r2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a3r3 = call float @llvm.fma.f32(float %a3r2, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a4r3 = call float @llvm.fma.f32(float %a4r2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a5r3 = call float @llvm.fma.f32(float %a5r2, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a6r3 = call float @llvm.fma.f32(float %a6r2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a7r3 = call float @llvm.fma.f32(float %a7r2, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a8r3 = call float @llvm.fma.f32(float %a8r2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a9r3 = call float @llvm.fma.f32(float %a9r2, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a10r3 = call float @llvm.fma.f32(float %a10r2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a11r3 = call float @llvm.fma.f32(float %a11r2, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a12r3 = call float @llvm.fma.f32(float %a12r2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a13r3 = call float @llvm.fma.f32(float %a13r2, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a14r3 = call float @llvm.fma.f32(float %a14r2, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a15r3 = call float @llvm.fma.f32(float %a15r2, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a0r4 = call float @llvm.fma.f32(float %a0r3, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a1r4 = call float @llvm.fma.f32(float %a1r3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a2r4 = call float @llvm.fma.f32(float %a2r3, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a3r4 = call float @llvm.fma.f32(float %a3r3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a4r4 = call float @llvm.fma.f32(float %a4r3, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a5r4 = call float @llvm.fma.f32(float %a5r3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a6r4 = call float @llvm.fma.f32(float %a6r3, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a7r4 = call float @llvm.fma.f32(float %a7r3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a8r4 = call float @llvm.fma.f32(float %a8r3, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a9r4 = call float @llvm.fma.f32(float %a9r3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a10r4 = call float @llvm.fma.f32(float %a10r3, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a11r4 = call float @llvm.fma.f32(float %a11r3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a12r4 = call float @llvm.fma.f32(float %a12r3, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a13r4 = call float @llvm.fma.f32(float %a13r3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a14r4 = call float @llvm.fma.f32(float %a14r3, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a15r4 = call float @llvm.fma.f32(float %a15r3, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a0r5 = call float @llvm.fma.f32(float %a0r4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a1r5 = call float @llvm.fma.f32(float %a1r4, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a2r5 = call float @llvm.fma.f32(float %a2r4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a3r5 = call float @llvm.fma.f32(float %a3r4, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a4r5 = call float @llvm.fma.f32(float %a4r4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a5r5 = call float @llvm.fma.f32(float %a5r4, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a6r5 = call float @llvm.fma.f32(float %a6r4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a7r5 = call float @llvm.fma.f32(float %a7r4, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a8r5 = call float @llvm.fma.f32(float %a8r4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a9r5 = call float @llvm.fma.f32(float %a9r4, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a10r5 = call float @llvm.fma.f32(float %a10r4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a11r5 = call float @llvm.fma.f32(float %a11r4, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a12r5 = call float @llvm.fma.f32(float %a12r4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a13r5 = call float @llvm.fma.f32(float %a13r4, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a14r5 = call float @llvm.fma.f32(float %a14r4, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a15r5 = call float @llvm.fma.f32(float %a15r4, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a0r6 = call float @llvm.fma.f32(float %a0r5, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a1r6 = call float @llvm.fma.f32(float %a1r5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a2r6 = call float @llvm.fma.f32(float %a2r5, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a3r6 = call float @llvm.fma.f32(float %a3r5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a4r6 = call float @llvm.fma.f32(float %a4r5, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a5r6 = call float @llvm.fma.f32(float %a5r5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a6r6 = call float @llvm.fma.f32(float %a6r5, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a7r6 = call float @llvm.fma.f32(float %a7r5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a8r6 = call float @llvm.fma.f32(float %a8r5, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a9r6 = call float @llvm.fma.f32(float %a9r5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a10r6 = call float @llvm.fma.f32(float %a10r5, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a11r6 = call float @llvm.fma.f32(float %a11r5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a12r6 = call float @llvm.fma.f32(float %a12r5, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a13r6 = call float @llvm.fma.f32(float %a13r5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a14r6 = call float @llvm.fma.f32(float %a14r5, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a15r6 = call float @llvm.fma.f32(float %a15r5, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a0n = call float @llvm.fma.f32(float %a0r6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a1n = call float @llvm.fma.f32(float %a1r6, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a2n = call float @llvm.fma.f32(float %a2r6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a3n = call float @llvm.fma.f32(float %a3r6, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a4n = call float @llvm.fma.f32(float %a4r6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a5n = call float @llvm.fma.f32(float %a5r6, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a6n = call float @llvm.fma.f32(float %a6r6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a7n = call float @llvm.fma.f32(float %a7r6, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a8n = call float @llvm.fma.f32(float %a8r6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a9n = call float @llvm.fma.f32(float %a9r6, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a10n = call float @llvm.fma.f32(float %a10r6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a11n = call float @llvm.fma.f32(float %a11r6, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a12n = call float @llvm.fma.f32(float %a12r6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a13n = call float @llvm.fma.f32(float %a13r6, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %a14n = call float @llvm.fma.f32(float %a14r6, float 0x3FEFFFBCE0000000, float 0x3F50624DE0000000)
  %a15n = call float @llvm.fma.f32(float %a15r6, float 0x3FEFFFBCE0000000, float 0x3F1A36E2E0000000)
  %inext = add i32 %i, 1
  %more = icmp ult i32 %inext, %iters
  br i1 %more, label %loop, label %done

done:
  %s0 = fadd float %a0n, %a1n
  %s1 = fadd float %a2n, %a3n
  %s2 = fadd float %a4n, %a5n
  %s3 = fadd float %a6n, %a7n
  %s4 = fadd float %a8n, %a9n
  %s5 = fadd float %a10n, %a11n
  %s6 = fadd float %a12n, %a13n
  %s7 = fadd float %a14n, %a15n
  %t0 = fadd float %s0, %s1
  %t1 = fadd float %s2, %s3
  %t2 = fadd float %s4, %s5
  %t3 = fadd float %s6, %s7
  %u0 = fadd float %t0, %t1
  %u1 = fadd float %t2, %t3
  %sum = fadd float %u0, %u1
  %slot = getelementptr float, float addrspace(1)* %out, i32 %idx
  store float %sum, float addrspace(1)* %slot, align 4
  ret void
}

define void @kfcheck_copy(<4 x float> addrspace(1)* %dst, <4 x float> addrspace(1)* %src, i64 %n) {
entry:
  %tid = call i32 @llvm.nvvm.read.ptx.sreg.tid.x()
  %bid = call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
  %bdim = call i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
  %gdim = call i32 @llvm.nvvm.read.ptx.sreg.nctaid.x()
  %base = mul i32 %bid, %bdim
  %idx32 = add i32 %base, %tid
  %idx = zext i32 %idx32 to i64
  %stride32 = mul i32 %gdim, %bdim
  %stride = zext i32 %stride32 to i64
  %any = icmp ult i64 %idx, %n
  br i1 %any, label %loop, label %done

loop:
  %i = phi i64 [ %idx, %entry ], [ %inext, %loop ]
  %from = getelementptr <4 x float>, <4 x float> addrspace(1)* %src, i64 %i
  %v = load <4 x float>, <4 x float> addrspace(1)* %from, align 16
  %to = getelementptr <4 x float>, <4 x float> addrspace(1)* %dst, i64 %i
  store <4 x float> %v, <4 x float> addrspace(1)* %to, align 16
  %inext = add i64 %i, %stride
  %more = icmp ult i64 %inext, %n
  br i1 %more, label %loop, label %done

done:
  ret void
}

!nvvm.annotations = !{!0, !1}
!0 = !{void (float addrspace(1)*, i32)* @kfcheck_fma, !"kernel", i32 1}
!1 = !{void (<4 x float> addrspace(1)*, <4 x float> addrspace(1)*, i64)* @kfcheck_copy, !"kernel", i32 1}
