// Native Verilator harness for the spikemesh SoC: a TCP socket on 127.0.0.1 <-> the host link.
//   --mode bytes : socket bytes go straight into the link's byte stream (bypass ports)
//   --mode bits  : socket bytes are serialised onto uart_rx / deserialised from uart_tx at --cpb clocks/bit
// stdin commands (one per line): "reset" pulses the SoC reset, "reset_after N" pulses it once N more bytes
// have gone into the design (a reset in the middle of a frame), "reset_cycles N" pulses it N clock cycles from
// now (e.g. in the middle of a training sample), "cycles" prints the cycle count, "resets" the number of resets
// pulsed so far, "quit". A host disconnecting drops the bytes queued either way and any pending reset.
// Prints "PORT <n>" once listening. When the link is idle and no bytes are pending it sleeps in poll().
// It exits when its parent goes away: EOF or hang-up on stdin (the host's end of the pipe closes when the
// host process ends, however it ends), so no orphan keeps spinning.
#include "Vsoc.h"
#include "verilated.h"
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

static Vsoc *top;
static uint64_t cycles = 0;
static uint64_t resets = 0;

static void reset_soc() {  // the SoC takes rst through a register: 5 edges give it 4 reset cycles
    resets++;
    top->rst = 1;
    for (int k = 0; k < 5; k++) { top->clk = 0; top->eval(); top->clk = 1; top->eval(); cycles++; }
    top->rst = 0;
}

static void tick() {
    top->clk = 0; top->eval();
    top->clk = 1; top->eval();
    cycles++;
}

struct UartTx {  // drives uart_rx
    int cpb; int bit = -1; int timer = 0; uint16_t shreg = 0;
    bool busy() const { return bit >= 0; }
    void load(uint8_t b) { shreg = (uint16_t)((b << 1) | (1 << 9)); bit = 0; timer = cpb; }
    int level() const { return bit < 0 ? 1 : (shreg >> bit) & 1; }
    void step() { if (bit < 0) return; if (--timer == 0) { timer = cpb; if (++bit == 10) bit = -1; } }
};

struct UartRx {  // samples uart_tx
    int cpb; int state = 0; int timer = 0; int bit = 0; uint8_t shreg = 0;
    bool busy() const { return state != 0; }
    int step(int line) {  // returns a byte or -1
        if (state == 0) { if (!line) { state = 1; timer = cpb / 2; } return -1; }
        if (--timer > 0) return -1;
        timer = cpb;
        if (state == 1) { if (line) { state = 0; return -1; } state = 2; bit = 0; shreg = 0; return -1; }
        if (state == 2) { shreg |= (uint8_t)(line << bit); if (++bit == 8) state = 3; return -1; }
        state = 0;
        return line ? shreg : -2;  // -2: framing error
    }
};

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    int port = 0, cpb = 25; bool bits = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--port" && i + 1 < argc) port = atoi(argv[++i]);
        else if (a == "--cpb" && i + 1 < argc) cpb = atoi(argv[++i]);
        else if (a == "--mode" && i + 1 < argc) bits = std::string(argv[++i]) == "bits";
    }
    top = new Vsoc;
    top->bypass = bits ? 0 : 1;
    top->uart_rx = 1;
    top->byte_out___05Fready = 1;
    top->rst = 1; for (int i = 0; i < 4; i++) tick(); top->rst = 0;

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1; setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{}; sa.sin_family = AF_INET; sa.sin_port = htons(port); sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (sockaddr *)&sa, sizeof sa) || listen(ls, 1)) { perror("bind/listen"); return 1; }
    socklen_t sl = sizeof sa; getsockname(ls, (sockaddr *)&sa, &sl);
    printf("PORT %d\n", ntohs(sa.sin_port)); fflush(stdout);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

    int cs = -1;
    std::deque<uint8_t> inq; std::vector<uint8_t> outq;
    UartTx utx{cpb}; UartRx urx{cpb};
    std::string line;
    int quiet = 0;
    long reset_after = -1;  // bytes still to feed before a scheduled reset (-1: none)
    long long reset_at = -1;  // cycle count of a scheduled reset (-1: none)
    for (;;) {
        // --- I/O between chunks of cycles ---
        bool idle = top->idle && inq.empty() && outq.empty() && !utx.busy() && !urx.busy() && reset_at < 0;
        pollfd fds[2] = {{cs >= 0 ? cs : ls, POLLIN, 0}, {0, POLLIN, 0}};
        int timeout = (idle && quiet > 0) ? 20 : 0;  // an idle SoC is not clocked: cycles are work, not waiting
        poll(fds, 2, timeout);
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
            char buf[256]; ssize_t n = read(0, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return 0;  // the host is gone
            for (ssize_t i = 0; i < n; i++) {
                if (buf[i] != '\n') { line += buf[i]; continue; }
                if (line == "quit") return 0;
                if (line == "reset") { reset_soc(); urx.state = 0; }
                if (line.rfind("reset_after ", 0, 12) == 0) reset_after = atol(line.c_str() + 12);
                if (line.rfind("reset_cycles ", 0, 13) == 0) reset_at = (long long)cycles + atoll(line.c_str() + 13);
                if (line == "cycles") { printf("CYCLES %llu\n", (unsigned long long)cycles); fflush(stdout); }
                if (line == "resets") { printf("RESETS %llu\n", (unsigned long long)resets); fflush(stdout); }
                line.clear();
            }
        }
        if (cs < 0 && (fds[0].revents & POLLIN)) {
            cs = accept(ls, nullptr, nullptr);
            if (cs >= 0) { fcntl(cs, F_SETFL, O_NONBLOCK); setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
        } else if (cs >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            uint8_t buf[4096]; ssize_t n = recv(cs, buf, sizeof buf, 0);
            if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
                close(cs); cs = -1; inq.clear(); outq.clear(); reset_after = -1; reset_at = -1;
            }
            for (ssize_t i = 0; i < n; i++) inq.push_back(buf[i]);
        }
        if (cs >= 0 && !outq.empty()) {
            ssize_t n = send(cs, outq.data(), outq.size(), MSG_NOSIGNAL);
            if (n > 0) outq.erase(outq.begin(), outq.begin() + n);
        }
        quiet = idle ? quiet + 1 : 0;
        // --- a chunk of clock cycles ---
        for (int c = 0; c < 512; c++) {
            if (bits) {
                if (!utx.busy() && !inq.empty()) {
                    utx.load(inq.front()); inq.pop_front();
                    if (reset_after > 0 && --reset_after == 0) { reset_after = -1; reset_soc(); urx.state = 0; }
                }
                top->uart_rx = utx.level();
            } else {
                top->byte_in___05Fvalid = !inq.empty();
                if (!inq.empty()) top->byte_in___05Fpayload = inq.front();
            }
            top->clk = 0; top->eval();
            bool took = !bits && top->byte_in___05Fvalid && top->byte_in___05Fready;
            if (!bits && top->byte_out___05Fvalid) outq.push_back(top->byte_out___05Fpayload);
            top->clk = 1; top->eval();
            cycles++;
            if (reset_at >= 0 && (long long)cycles >= reset_at) { reset_at = -1; reset_soc(); urx.state = 0; }
            if (took) {
                inq.pop_front();
                if (reset_after > 0 && --reset_after == 0) { reset_after = -1; reset_soc(); }
            }
            if (bits) {
                utx.step();
                int b = urx.step(top->uart_tx);
                if (b >= 0) outq.push_back((uint8_t)b);
            }
            // an answer is complete and the SoC has nothing else to do: send it now, not at the chunk's end
            if (!outq.empty() && inq.empty() && top->idle && !utx.busy() && !urx.busy() && reset_at < 0) break;
        }
    }
}
