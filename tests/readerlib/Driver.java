// An HIS stand-in in Java through JNA (libjna-java): the same line protocol as driver.c.
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

public class Driver {
    public interface SSCardReader extends Library {
        NativeLong Init(byte[] pInitInfo, byte[] pErrMsg);
        NativeLong ReadCardBas(byte[] pCardInfo, byte[] pBusiCardInfo);
        NativeLong ReadCardBas(Memory pCardInfo, byte[] pBusiCardInfo);
        NativeLong VerifyPIN(byte[] pOutBuff);
        NativeLong ChangePIN(byte[] pOutBuff);
        NativeLong iReadCardBas(int iType, byte[] pOutInfo);
        NativeLong iVerifyPIN(int iType, byte[] pOutInfo);
    }

    static String hex(byte[] buffer) {
        StringBuilder s = new StringBuilder();
        for (byte b : buffer) { if (b == 0) break; s.append(String.format("%02X", b & 0xFF)); }
        return s.length() == 0 ? "-" : s.toString();
    }

    static byte[] cString(String text) {
        byte[] raw = text.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[raw.length + 1];
        System.arraycopy(raw, 0, out, 0, raw.length);
        return out;
    }

    public static void main(String[] args) throws Exception {
        SSCardReader lib = Native.load(args[0], SSCardReader.class);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            byte[] err = new byte[1024], info = new byte[2048], busi = new byte[8192], out = new byte[1024];
            String answer;
            if (line.startsWith("init ")) {
                answer = lib.Init(cString(line.substring(5)), err) + " " + hex(err);
            } else if (line.equals("read")) {
                answer = lib.ReadCardBas(info, busi) + " " + hex(info) + " " + hex(busi);
            } else if (line.startsWith("read_small ")) {
                int size = Integer.parseInt(line.substring(11));
                Memory small = new Memory(size + 16);
                for (int i = 0; i < size + 16; i++) small.setByte(i, (byte) 0xAA);
                long rc = lib.ReadCardBas(small, busi).longValue();
                boolean intact = true;
                for (int i = size; i < size + 16; i++) if (small.getByte(i) != (byte) 0xAA) intact = false;
                byte[] head = small.getByteArray(0, size);
                boolean terminated = false;
                for (byte b : head) if (b == 0) terminated = true;
                answer = rc + " " + (terminated ? hex(head) : "UNTERMINATED") + " " + hex(busi)
                    + " " + (intact ? "canary-intact" : "canary-overwritten");
            } else if (line.equals("verify")) {
                answer = lib.VerifyPIN(out) + " " + hex(out);
            } else if (line.equals("change")) {
                answer = lib.ChangePIN(out) + " " + hex(out);
            } else if (line.startsWith("iread ")) {
                answer = lib.iReadCardBas(Integer.parseInt(line.substring(6)), info) + " " + hex(info);
            } else if (line.startsWith("iverify ")) {
                answer = lib.iVerifyPIN(Integer.parseInt(line.substring(8)), out) + " " + hex(out);
            } else if (line.equals("quit")) {
                break;
            } else {
                answer = "unknown-command";
            }
            System.out.println(answer);
            System.out.flush();
        }
    }
}
