from market_weather.producer.cli import main

main()
